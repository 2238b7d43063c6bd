/**
 * `automna env list|set|unset`: the agent's variables and secrets after provisioning, on a VM (the
 * 0600 env file over real ssh, container re-created) and on Fly (app secrets, machine restarted).
 * Values never appear in output; list shows names and digests.
 */
import { createHash } from "node:crypto";
import { readFileSync, statSync } from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { accessWorld, hostKeyOf, provisionFly, type AccessWorld } from "../access/helpers.js";
import { runCli } from "../helpers/cli.js";

const OLD = "sk-old-value-0123456789";
const NEW = "sk-new-value-9876543210";
const digest = (v: string) => createHash("sha256").update(v).digest("hex").slice(0, 12);

let w: AccessWorld;
beforeAll(async () => {
  w = await accessWorld();
  const made = await runCli(["provision", "vera", "--provider", "hetzner", "--region", "fsn1", "--size", "cx22", "--env", "PLAIN=one", "--secret", "API_KEY"], { env: { ...w.env, API_KEY: OLD } });
  if (made.code !== 0) throw new Error(made.stderr);
  await provisionFly(w, ["flo"]);
});
afterAll(async () => {
  await w?.cleanup();
});

async function envFile(user: string): Promise<{ text: string; mode: number }> {
  const { key } = await hostKeyOf(w, user);
  const file = join(w.sb.simHost(key)!.rootDir, ".host", "agent.env");
  return { text: readFileSync(file, "utf8"), mode: statSync(file).mode & 0o777 };
}

async function flySecrets(app: string): Promise<Record<string, string>> {
  const res = await fetch(`${w.env.AUTOMNA_FLY_URL}/v1/apps/${app}/secrets?show_secrets=true`, { headers: { authorization: `Bearer ${w.env.FLY_API_TOKEN}` } });
  return Object.fromEntries(((await res.json()) as { secrets: { name: string; value: string }[] }).secrets.map((s) => [s.name, s.value]));
}

describe("automna env on a VM (Hetzner)", () => {
  it("lists names with digests, never values", async () => {
    const r = await runCli(["env", "list", "vera", "--json"], { env: w.env });
    expect(r.code, r.stderr).toBe(0);
    expect(r.json()).toEqual([{ name: "API_KEY", digest: digest(OLD) }, { name: "PLAIN", digest: digest("one") }]);
    const table = await runCli(["env", "list", "vera"], { env: w.env });
    expect(table.stdout).toBe(`NAME      DIGEST\nAPI_KEY   ${digest(OLD)}\nPLAIN     ${digest("one")}\n`);
  });

  it("rotates a secret: the file and the re-created container have the new value; the same value again changes nothing", async () => {
    const r = await runCli(["env", "set", "vera", "--secret", "API_KEY", "--env", "LEVEL=debug", "--json", "--debug"], { env: { ...w.env, API_KEY: NEW } });
    expect(r.code, r.stderr).toBe(0);
    expect(r.json()).toEqual([{ user: "vera", result: "updated", names: ["LEVEL", "API_KEY"], error: null }]);
    expect(r.stdout + r.stderr).not.toContain(NEW);
    expect(await envFile("vera")).toEqual({ text: `PLAIN=one\nAPI_KEY=${NEW}\nLEVEL=debug\n`, mode: 0o600 });
    const inspect = await runCli(["ssh", "vera", "--", "docker inspect -f '{{json .Config.Env}}' automna-agent"], { env: w.env });
    expect(JSON.parse(inspect.stdout)).toEqual(["PLAIN=one", `API_KEY=${NEW}`, "LEVEL=debug"]);
    const again = await runCli(["env", "set", "vera", "--secret", "API_KEY", "--json"], { env: { ...w.env, API_KEY: NEW } });
    expect(again.json()).toMatchObject([{ user: "vera", result: "unchanged" }]);
  });

  it("unsets a variable", async () => {
    const r = await runCli(["env", "unset", "vera", "--name", "LEVEL"], { env: w.env });
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toContain("vera   updated   LEVEL");
    expect((await envFile("vera")).text).toBe(`PLAIN=one\nAPI_KEY=${NEW}\n`);
  });
});

describe("automna env and cloud-init's env file", () => {
  it("lists the plain --env values cloud-init wrote at first boot and keeps them when a secret is added", async () => {
    const made = await runCli(["provision", "dina", "--provider", "digitalocean", "--region", "fra1", "--size", "s-1vcpu-2gb", "--env", "ONLY=plain"], { env: w.env });
    expect(made.code, made.stderr).toBe(0);
    await w.sb.settled();
    expect((await runCli(["env", "list", "dina", "--json"], { env: w.env })).json()).toEqual([{ name: "ONLY", digest: digest("plain") }]);
    expect(await envFile("dina")).toEqual({ text: "ONLY=plain\n", mode: 0o600 });
    const set = await runCli(["env", "set", "dina", "--secret", "API_KEY"], { env: { ...w.env, API_KEY: NEW } });
    expect(set.code, set.stderr).toBe(0);
    expect((await envFile("dina")).text).toBe(`ONLY=plain\nAPI_KEY=${NEW}\n`);
  });
});

describe("automna env on Fly", () => {
  it("sets app secrets and restarts the machine with them; unset deletes them", async () => {
    const before = (await runCli(["status", "flo", "--json"], { env: w.env })).json<{ instance: { resources: { machine: string } } }>().instance.resources.machine;
    const machineVersion = async () => {
      const res = await fetch(`${w.env.AUTOMNA_FLY_URL}/v1/apps/automna-flo/machines/${before}`, { headers: { authorization: `Bearer ${w.env.FLY_API_TOKEN}` } });
      return ((await res.json()) as { instance_id: string }).instance_id;
    };
    const v0 = await machineVersion();
    const set = await runCli(["env", "set", "flo", "--secret", "API_KEY"], { env: w.env, stdin: `${NEW}\n` });
    expect(set.code, set.stderr).toBe(0);
    expect(await flySecrets("automna-flo")).toEqual({ API_KEY: NEW });
    expect(await machineVersion()).not.toBe(v0);
    const listed = await runCli(["env", "list", "flo", "--json"], { env: w.env });
    expect(listed.json()).toEqual([{ name: "API_KEY", digest: digest(NEW) }]);
    const unset = await runCli(["env", "unset", "flo", "--name", "API_KEY", "--json"], { env: w.env });
    expect(unset.json()).toMatchObject([{ user: "flo", result: "updated" }]);
    expect(await flySecrets("automna-flo")).toEqual({});
  });
});

describe("automna env: bad input (exit 2, nothing changed)", () => {
  it.each([
    [["env", "set", "vera"], "nothing to set"],
    [["env", "set", "vera", "--env", "NOEQUALS"], "--env takes NAME=value"],
    [["env", "set", "nobody", "--env", "A=1"], "nobody has no instance"],
    [["env", "unset", "vera", "--name", "bad-name"], "--name takes a variable name"],
    [["env", "list", "Not_A_User"], "Not_A_User"],
  ])("%j", async (args, message) => {
    const r = await runCli(args, { env: w.env });
    expect(r.code).toBe(2);
    expect(r.stderr).toContain(message);
  });

  it("a value with a line break is refused before anything is written", async () => {
    const r = await runCli(["env", "set", "vera", "--secret", "MULTI"], { env: { ...w.env, MULTI: "a\nb" } });
    expect(r.code).toBe(2);
    expect(r.stderr).toBe("Error: --env/--secret MULTI: values cannot contain line breaks\nHint: an env file holds one variable per line\n");
    expect((await envFile("vera")).text).toBe(`PLAIN=one\nAPI_KEY=${NEW}\n`);
  });
});
