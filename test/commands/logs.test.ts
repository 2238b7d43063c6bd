import { readdirSync, readFileSync } from "node:fs";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { accessWorld, expectContiguous, followLogs, hostKeyOf, provision, seqs, type AccessWorld } from "../access/helpers.js";
import { runCli } from "../helpers/cli.js";
import { hostProcesses, until } from "../sandbox/host-helpers.js";

let w: AccessWorld;
beforeAll(async () => {
  w = await accessWorld();
  await provision(w, "hetzner", ["alice", "bob"]);
  await provision(w, "digitalocean", ["dora"]);
});
afterAll(async () => {
  await w?.cleanup();
});

interface Line { user: string; provider: string; time: string; line: string }
const ndjson = (text: string): Line[] => text.trim().split("\n").filter(Boolean).map((l) => JSON.parse(l) as Line);

const follow = (args: string[]) => followLogs(w.env, args);

/** Pids of this process's ssh clients whose command line contains `needle`. */
function localSsh(needle: string): number[] {
  return readdirSync("/proc").filter((p) => /^\d+$/.test(p)).map(Number).filter((pid) => {
    try {
      const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
      const ppid = Number(stat.slice(stat.lastIndexOf(")") + 2).split(" ")[1]);
      const cmd = readFileSync(`/proc/${pid}/cmdline`, "utf8");
      return ppid === process.pid && cmd.startsWith("ssh\0") && cmd.includes(needle);
    } catch {
      return false;
    }
  });
}

describe("automna logs (docker logs over SSH)", () => {
  it("--tail N gives the last N lines; --json is NDJSON {user, provider, time, line}", async () => {
    const r = await runCli(["logs", "alice", "--tail", "5", "--json"], { env: w.env });
    expect(r.code, r.stderr).toBe(0);
    const lines = ndjson(r.stdout);
    expect(lines).toHaveLength(5);
    for (const l of lines) {
      expect(Object.keys(l)).toEqual(["user", "provider", "time", "line"]);
      expect(l).toMatchObject({ user: "alice", provider: "hetzner" });
      expect(l.time).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{9}Z$/);
    }
    expectContiguous(seqs(r.stdout));
    const human = await runCli(["logs", "dora", "--tail", "2"], { env: w.env });
    expect(human.stdout).toMatch(/^level=\w+ component=\w+ .* seq=\d+\nlevel=\w+ component=\w+ .* seq=\d+\n$/);
  });

  it("--since an ISO time or a duration", async () => {
    const first = ndjson((await runCli(["logs", "alice", "--tail", "1", "--json"], { env: w.env })).stdout)[0]!;
    await new Promise((r) => setTimeout(r, 200));
    const since = await runCli(["logs", "alice", "--since", first.time, "--json"], { env: w.env });
    const lines = ndjson(since.stdout);
    // Inclusive, as docker's --since: the line at that exact time comes first.
    expect(lines[0]).toEqual(first);
    expect(lines.length).toBeGreaterThan(3);
    expectContiguous(seqs(since.stdout));
    const all = await runCli(["logs", "bob", "--since", "10m", "--json"], { env: w.env });
    expect(seqs(all.stdout)[0]).toBe(1);
    const none = await runCli(["logs", "bob", "--since", "2099-01-01T00:00:00Z"], { env: w.env });
    expect(none).toMatchObject({ code: 0, stdout: "" });
    const bad = await runCli(["logs", "bob", "--since", "yesterday"], { env: w.env });
    expect(bad.code).toBe(2);
    expect(bad.stderr).toContain("--since must be a duration (10m, 2h) or an ISO time");
  });

  it("several users: merged in time order, each line prefixed by its user", async () => {
    const r = await runCli(["logs", "alice", "bob", "dora", "--tail", "4", "--json"], { env: w.env });
    const lines = ndjson(r.stdout);
    expect(lines).toHaveLength(12);
    expect(new Set(lines.map((l) => l.user))).toEqual(new Set(["alice", "bob", "dora"]));
    expect(lines.map((l) => l.time)).toEqual([...lines.map((l) => l.time)].sort());
    const human = await runCli(["logs", "alice", "dora", "--tail", "1"], { env: w.env });
    expect(human.stdout.split("\n").filter(Boolean).map((l) => l.slice(0, 8)).sort()).toEqual(["alice | ", "dora  | "]);
  });

  it("--follow survives its stream being killed twice (client side, then the remote docker) without duplicates or gaps", async () => {
    const f = follow(["logs", "alice", "-f", "--tail", "3", "--json"]);
    await until(() => seqs(f.out()).length >= 15 || undefined, 10_000);
    const clients = await until(() => localSsh("--follow").length ? localSsh("--follow") : undefined);
    for (const pid of clients) process.kill(pid, "SIGKILL");
    let mark = seqs(f.out()).length;
    await until(() => seqs(f.out()).length >= mark + 15 || undefined, 10_000);
    const remote = hostProcesses("automna-alice");
    expect(remote.length).toBeGreaterThan(0);
    for (const pid of remote) process.kill(pid, "SIGKILL");
    mark = seqs(f.out()).length;
    await until(() => seqs(f.out()).length >= mark + 15 || undefined, 10_000);
    const r = await f.stop();
    // Ctrl-C is how a follow ends: exit 0, no "cancelled" error.
    expect(r.code).toBe(0);
    expect(r.stderr).toBe("");
    const got = seqs(r.stdout);
    expectContiguous(got);
    expect(got.length).toBeGreaterThanOrEqual(45);
  });

  it("--follow as plain text (one user, no --json) also resumes without duplicates or gaps", async () => {
    const f = follow(["logs", "dora", "-f", "--tail", "2"]);
    await until(() => seqs(f.out()).length >= 10 || undefined, 10_000);
    for (const pid of hostProcesses("automna-dora")) process.kill(pid, "SIGKILL");
    const mark = seqs(f.out()).length;
    await until(() => seqs(f.out()).length >= mark + 15 || undefined, 10_000);
    const r = await f.stop();
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/^(level=\w+ component=\w+ .* seq=\d+\n)+$/);
    expectContiguous(seqs(r.stdout));
  });

  it("--follow of several users keeps each user's lines complete and prefixed", async () => {
    const f = follow(["logs", "bob", "dora", "-f", "--tail", "0"]);
    await until(() => (f.out().match(/^dora \| /gm)?.length ?? 0) >= 10 && (f.out().match(/^bob {2}\| /gm)?.length ?? 0) >= 10 || undefined, 10_000);
    const r = await f.stop();
    expect(r.code).toBe(0);
    const per = (u: string) => seqs(r.stdout.split("\n").filter((l) => l.startsWith(`${u} `)).join("\n"));
    expectContiguous(per("bob"));
    expectContiguous(per("dora"));
  });

  it("a machine that cannot be reached: exit 1 alone, exit 3 among others", async () => {
    const { key, address } = await hostKeyOf(w, "bob");
    const host = w.sb.simHost(key)!;
    await host.stop();
    // ssh.options come before automna's defaults: one connection attempt instead of three.
    const env = { ...w.env, AUTOMNA_SSH_OPTIONS: "ConnectionAttempts=1" };
    try {
      const one = await runCli(["logs", "bob", "--tail", "1"], { env });
      expect(one.code).toBe(1);
      expect(one.stderr).toContain(`Error: cannot reach bob's Hetzner Cloud instance at [${address}]:`);
      const many = await runCli(["logs", "alice", "bob", "--tail", "1"], { env });
      expect(many.code).toBe(3);
      expect(many.stdout).toMatch(/^alice \| .*seq=\d+\n$/);
      expect(many.stderr).toContain("✗ bob: cannot reach");
    } finally {
      await host.start();
    }
    const unknown = await runCli(["logs", "alice", "nobody"], { env: w.env });
    expect(unknown.code).toBe(2);
    expect(unknown.stderr).toContain("Error: nobody has no instance");
  });
});
