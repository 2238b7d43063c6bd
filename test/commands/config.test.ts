import { chmodSync, mkdirSync, readFileSync, statSync, writeFileSync } from "node:fs";
import { dirname } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { makeHome, runCli, type Sandbox } from "../helpers/cli.js";

let home: Sandbox;
afterEach(() => home?.cleanup());

function setup(extra: Record<string, string> = {}): Record<string, string> {
  home = makeHome(extra);
  return home.env;
}

const mode = (path: string): number => statSync(path).mode & 0o777;

describe("automna config", () => {
  it("sets, gets, lists and unsets a setting, writing 0600 in a 0700 directory", async () => {
    const env = setup();
    const set = await runCli(["config", "set", "region", "fsn1"], { env });
    expect(set).toMatchObject({ code: 0, stdout: "" });
    expect(set.stderr).toContain("region set in profile default");
    expect(mode(home.configPath)).toBe(0o600);
    expect(mode(dirname(home.configPath))).toBe(0o700);

    const get = await runCli(["config", "get", "region"], { env });
    expect(get).toMatchObject({ code: 0, stdout: "fsn1\n" });

    const json = await runCli(["--json", "config", "get", "region"], { env });
    expect(json.json()).toEqual({ key: "region", value: "fsn1", source: "file" });
    expect((await runCli(["config", "get", "region", "-o", "yaml"], { env })).stdout).toBe("key: region\nvalue: fsn1\nsource: file\n");
    expect((await runCli(["config", "get", "region", "-o", "json"], { env })).json()).toEqual(json.json());

    const list = await runCli(["config", "list", "-o", "json"], { env });
    const entries = list.json<{ key: string; value: unknown; source: string }[]>();
    expect(entries.find((e) => e.key === "region")).toMatchObject({ value: "fsn1", source: "file" });
    expect(entries.find((e) => e.key === "ssh.user")).toMatchObject({ value: "root", source: "default" });

    const unset = await runCli(["config", "unset", "region"], { env });
    expect(unset.code).toBe(0);
    const after = await runCli(["config", "get", "region"], { env });
    expect(after).toMatchObject({ code: 1, stdout: "" });
  });

  it("resolves env over file, and keeps profiles apart", async () => {
    const env = setup();
    await runCli(["config", "set", "region", "fsn1"], { env });
    await runCli(["--profile", "staging", "config", "profile", "create"], { env });
    await runCli(["--profile", "staging", "config", "set", "region", "nbg1"], { env });
    expect((await runCli(["config", "get", "region"], { env })).stdout).toBe("fsn1\n");
    expect((await runCli(["--profile", "staging", "config", "get", "region"], { env })).stdout).toBe("nbg1\n");
    expect((await runCli(["config", "get", "region"], { env: { ...env, AUTOMNA_PROFILE: "staging" } })).stdout).toBe("nbg1\n");
    const fromEnv = await runCli(["--json", "config", "get", "region"], { env: { ...env, AUTOMNA_REGION: "hel1" } });
    expect(fromEnv.json()).toEqual({ key: "region", value: "hel1", source: "env" });
  });

  it("never takes a secret from the command line and never prints one", async () => {
    const env = setup();
    const refused = await runCli(["config", "set", "hetzner.token", "tok-abcdef123456"], { env });
    expect(refused.code).toBe(2);
    expect(refused.stderr).toContain("hetzner.token is a secret and is never taken from the command line");
    expect(refused.stderr).not.toContain("tok-abcdef123456");

    const piped = await runCli(["config", "set", "hetzner.token", "-"], { env, stdin: "tok-abcdef123456\n" });
    expect(piped.code).toBe(0);
    expect(JSON.parse(readFileSync(home.configPath, "utf8")).profiles.default.hetzner.token).toBe("tok-abcdef123456");

    for (const args of [["config", "list"], ["config", "list", "-o", "json", "--all"], ["config", "get", "hetzner.token"], ["--debug", "config", "list"]]) {
      const r = await runCli(args, { env });
      expect(r.stdout + r.stderr).not.toContain("tok-abcdef123456");
    }
    expect((await runCli(["config", "get", "hetzner.token"], { env })).stdout).toBe("***\n");
    const viaEnv = await runCli(["--json", "config", "get", "hetzner.token"], { env: { ...env, HCLOUD_TOKEN: "env-token-987654" } });
    expect(viaEnv.json()).toEqual({ key: "hetzner.token", value: "***", source: "env" });
  });

  it("rejects unknown keys and bad values with exit 2 and a suggestion", async () => {
    const env = setup();
    const unknown = await runCli(["config", "set", "regoin", "x"], { env });
    expect(unknown.code).toBe(2);
    expect(unknown.stderr).toContain('Error: unknown config key "regoin"');
    expect(unknown.stderr).toContain("did you mean region");
    const badNumber = await runCli(["config", "set", "ssh.port", "twenty-two"], { env });
    expect(badNumber.code).toBe(2);
    expect(badNumber.stderr).toContain('value for ssh.port: "twenty-two" is not a whole number from 1 to 65535');
    const badChoice = await runCli(["config", "set", "provider", "aws"], { env });
    expect(badChoice.code).toBe(2);
    expect(badChoice.stderr).toContain("is not one of hetzner, fly, digitalocean, do");
    const badProfile = await runCli(["--profile", "Bad Name", "config", "list"], { env });
    expect(badProfile.code).toBe(2);
    expect(badProfile.stderr).toContain('invalid profile name "Bad Name"');
  });

  it("names a corrupt config file and never overwrites it", async () => {
    const env = setup();
    mkdirSync(dirname(home.configPath), { recursive: true });
    writeFileSync(home.configPath, '{"profiles": {"default": {"region": "fsn1"', { mode: 0o600 });
    const before = readFileSync(home.configPath, "utf8");
    for (const args of [["config", "list"], ["config", "set", "region", "nbg1"]]) {
      const r = await runCli(args, { env });
      expect(r.code).toBe(2);
      expect(r.stderr.split("\n")[0]).toBe(`Error: config file ${home.configPath} is not valid JSON: ${r.stderr.split("JSON: ")[1]!.split("\n")[0]}`);
      expect(r.stderr).toContain("automna will not overwrite it");
    }
    expect(readFileSync(home.configPath, "utf8")).toBe(before);
    const json = await runCli(["--json", "config", "list"], { env });
    expect(json.json<{ error: { code: string } }>().error.code).toBe("config");
  });

  it("tightens a config file that others can read", async () => {
    const env = setup();
    mkdirSync(dirname(home.configPath), { recursive: true });
    writeFileSync(home.configPath, JSON.stringify({ profiles: { default: { region: "fsn1" } } }));
    chmodSync(home.configPath, 0o644);
    expect((await runCli(["config", "get", "region"], { env })).stdout).toBe("fsn1\n");
    expect(mode(home.configPath)).toBe(0o600);
  });

  it("reports an unreadable config file by name", async () => {
    if (process.getuid?.() === 0) {
      // root reads anything; a directory in the file's place is the unreadable case we can make.
      const env = setup();
      mkdirSync(home.configPath, { recursive: true });
      const r = await runCli(["config", "list"], { env });
      expect(r.code).toBe(2);
      expect(r.stderr).toContain(`config path ${home.configPath} is a directory`);
      return;
    }
    const env = setup();
    mkdirSync(dirname(home.configPath), { recursive: true });
    writeFileSync(home.configPath, "{}");
    chmodSync(home.configPath, 0o000);
    const r = await runCli(["config", "list"], { env });
    expect(r.code).toBe(2);
    expect(r.stderr).toContain(`cannot read config file ${home.configPath}: permission denied`);
  });

  it("honours --config and AUTOMNA_CONFIG", async () => {
    const env = setup();
    const other = `${home.dir}/elsewhere/automna.json`;
    await runCli(["--config", other, "config", "set", "size", "cx32"], { env });
    expect(JSON.parse(readFileSync(other, "utf8")).profiles.default.size).toBe("cx32");
    expect((await runCli(["config", "path"], { env: { ...env, AUTOMNA_CONFIG: other } })).stdout).toBe(`${other}\n`);
    expect((await runCli(["config", "path"], { env })).stdout).toBe(`${home.configPath}\n`);
  });
});
