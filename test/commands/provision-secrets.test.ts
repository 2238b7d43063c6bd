/**
 * `provision --secret` on the VM providers, end to end: the real sandbox over HTTP, the real
 * OpenSSH client (behind a wrapper that records its argv and environment), real sandbox hosts.
 * The secrets must reach the env file on each machine and the re-created container, and nowhere
 * else: not the output, the state database, the sandbox's files, or ssh's command line.
 */
import { execFileSync } from "node:child_process";
import { chmodSync, mkdirSync, readdirSync, readFileSync, statSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { DatabaseSync } from "node:sqlite";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { accessWorld, hostKeyOf, type AccessWorld } from "../access/helpers.js";
import { runCli } from "../helpers/cli.js";

const API_KEY = "sk-live-API-0123456789abcdef";
const OTHER = "other-secret-Zyx987654321";
const HETZNER = ["--provider", "hetzner", "--region", "fsn1", "--size", "cx22"];
const DO = ["--provider", "digitalocean", "--region", "fra1", "--size", "s-1vcpu-2gb"];
const SECRETS = ["--secret", "API_KEY", "--secret", "OTHER", "--env", "PLAIN=hello"];

let w: AccessWorld;
let env: Record<string, string>;
let sshLog: string;
beforeAll(async () => {
  w = await accessWorld();
  // An `ssh` first on PATH that records how it was started, then runs the real one.
  const bin = join(w.home.dir, "bin");
  mkdirSync(bin);
  sshLog = join(w.home.dir, "ssh.log");
  const realSsh = execFileSync("sh", ["-c", "command -v ssh"], { encoding: "utf8" }).trim();
  writeFileSync(join(bin, "ssh"), `#!/bin/sh\n{ echo "ARGV"; printf '%s\\n' "$@"; echo "ENV"; env; } >> '${sshLog}'\nexec '${realSsh}' "$@"\n`);
  chmodSync(join(bin, "ssh"), 0o755);
  env = { ...w.env, PATH: `${bin}:${w.env.PATH}`, API_KEY };
});
afterAll(async () => {
  await w?.cleanup();
});

/** Every file under `dir`, except the machines' env files (the one place the secrets belong). */
function filesUnder(dir: string): string[] {
  return readdirSync(dir, { recursive: true, withFileTypes: true })
    .filter((e) => e.isFile() && !(e.name === "agent.env" && e.parentPath.endsWith(".host")))
    .map((e) => join(e.parentPath, e.name));
}

function expectNowhere(files: string[]): void {
  for (const file of files) {
    const bytes = readFileSync(file).toString("latin1");
    expect(bytes.includes(API_KEY) || bytes.includes(OTHER), file).toBe(false);
  }
}

async function envFileOf(user: string): Promise<{ text: string; mode: number }> {
  const { key } = await hostKeyOf(w, user);
  const file = join(w.sb.simHost(key)!.rootDir, ".host", "agent.env");
  return { text: readFileSync(file, "utf8"), mode: statSync(file).mode & 0o777 };
}

describe("provision --secret on Hetzner and DigitalOcean", () => {
  it("writes the secrets over SSH to a 0600 env file on each machine and re-creates the agent with them, and nowhere else", async () => {
    const hetzner = await runCli(["provision", "alice", "bob", ...HETZNER, ...SECRETS, "--debug", "--verbose"], { env, stdin: `${OTHER}\n` });
    expect(hetzner.stderr).toContain("2 created, 0 adopted or resumed, 0 already there, 0 failed");
    expect(hetzner.code).toBe(0);
    expect(hetzner.stderr).toContain("alice: delivering secrets\n");
    const dora = await runCli(["provision", "dora", ...DO, ...SECRETS, "--json"], { env, stdin: OTHER });
    expect(dora.code).toBe(0);
    expect(dora.json<{ results: { result: string; status: string }[] }>().results).toMatchObject([{ result: "created", status: "running" }]);
    // What ssh was started with, before this test's own `automna ssh` (whose environment has API_KEY).
    const log = readFileSync(sshLog, "utf8");

    for (const user of ["alice", "bob", "dora"]) {
      expect(await envFileOf(user)).toEqual({ text: `PLAIN=hello\nAPI_KEY=${API_KEY}\nOTHER=${OTHER}\n`, mode: 0o600 });
      const inspect = await runCli(["ssh", user, "--", "docker inspect -f '{{.Config.Image}} {{json .Config.Env}}' automna-agent"], { env });
      expect(inspect.stdout).toBe(`ghcr.io/automna/agent:1 ${JSON.stringify(["PLAIN=hello", `API_KEY=${API_KEY}`, `OTHER=${OTHER}`])}\n`);
    }
    const listed = await runCli(["list", "-o", "json"], { env });
    expect(listed.json<{ user: string; status: string }[]>().map((r) => [r.user, r.status])).toEqual([["alice", "running"], ["bob", "running"], ["dora", "running"]]);

    // Nowhere else: the output (with --debug), state, the sandbox's files, ssh's argv and environment.
    for (const text of [hetzner.stdout, hetzner.stderr, dora.stdout, dora.stderr]) {
      expect(text).not.toContain(API_KEY);
      expect(text).not.toContain(OTHER);
    }
    expectNowhere(filesUnder(join(w.home.dir, "data", "automna")));
    expectNowhere(filesUnder(w.sb.dir));
    expect(log).toContain("cloud-init status --wait");
    expect(log).not.toContain(API_KEY);
    expect(log).not.toContain(OTHER);
    expect(log).not.toMatch(/^API_KEY=/m);
  });

  it("refuses a value with a line break (exit 2) and --no-wait (exit 2) before anything is made", async () => {
    const from = w.sb.requests().length;
    const multi = await runCli(["provision", "carol", ...HETZNER, "--secret", "MULTI"], { env: { ...env, MULTI: "line one\nline two" } });
    expect(multi.code).toBe(2);
    expect(multi.stderr).toContain("Error: --secret MULTI: values cannot contain line breaks\n");
    expect(multi.stderr).not.toContain("line one");
    const noWait = await runCli(["provision", "carol", ...DO, "--secret", "API_KEY", "--no-wait"], { env });
    expect(noWait.code).toBe(2);
    expect(noWait.stderr).toContain("Error: --secret needs the machine up (on DigitalOcean secrets are written over SSH after boot), so it cannot be used with --no-wait\n");
    expect(w.sb.requests().slice(from).filter((r) => r.method === "POST")).toEqual([]);
    expect((await runCli(["list", "-o", "json"], { env })).json<{ user: string }[]>().map((r) => r.user)).not.toContain("carol");
  });

  it("retries a machine that does not answer SSH up to ssh.bootTimeout, never retries a wrong host key, and a re-run resumes and delivers", async () => {
    // Nothing listens on this port: connection refused, as on a machine whose sshd is not up yet
    // (each attempt is ssh's own three connection tries, a second apart).
    const closed = await runCli(["provision", "erin", ...HETZNER, "--secret", "API_KEY"], { env: { ...env, AUTOMNA_SSH_PORT: "22099", AUTOMNA_SSH_BOOT_TIMEOUT: "4s" } });
    expect(closed.code).toBe(1);
    expect(closed.stderr).toContain("erin: delivering secrets: SSH not answering yet, again in 1 s\n");
    expect(closed.stderr).toMatch(/Error: could not deliver secrets within \d+ s: cannot reach erin's Hetzner Cloud instance at \[127\.77\.[\d.]+\]:22099: .*Connection refused/);
    const status = async () => (await runCli(["list", "-o", "json"], { env })).json<{ user: string; status: string }[]>().find((r) => r.user === "erin")?.status;
    expect(await status()).toBe("failed");

    // State says the machine has another host key (as if it had been replaced): refused at once, not retried.
    const db = new DatabaseSync(w.home.statePath);
    const setMeta = (meta: string) => db.prepare("UPDATE instances SET meta = ? WHERE user = 'erin'").run(meta);
    const meta = (db.prepare("SELECT meta FROM instances WHERE user = 'erin'").get() as { meta: string }).meta;
    const otherKey = readFileSync(`${w.keyFile}.pub`, "utf8").split(" ").slice(0, 2).join(" ");
    setMeta(JSON.stringify({ ...JSON.parse(meta) as object, hostKeys: [otherKey] }));
    const mismatch = await runCli(["provision", "erin", ...HETZNER, "--secret", "API_KEY"], { env });
    expect(mismatch.code).toBe(1);
    expect(mismatch.stderr).toContain("is not the one automna pinned when it created the machine; refusing to connect");
    expect(mismatch.stderr).not.toContain("SSH not answering yet");
    setMeta(meta);
    db.close();

    const resumed = await runCli(["provision", "erin", ...HETZNER, "--secret", "API_KEY", "--json"], { env });
    expect(resumed.code).toBe(0);
    expect(resumed.json<{ results: { result: string; status: string }[] }>().results).toMatchObject([{ result: "resumed", status: "running" }]);
    expect(await status()).toBe("running");
    expect(await envFileOf("erin")).toEqual({ text: `API_KEY=${API_KEY}\n`, mode: 0o600 });
    for (const r of [closed, mismatch, resumed]) expect(r.stdout + r.stderr).not.toContain(API_KEY);
  });
});
