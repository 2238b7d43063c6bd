/**
 * PENDING: the fleet commands end to end against the sandbox (src/sandbox, branch `sandbox`),
 * written against its announced API. Not yet collected by vitest (the name does not end in
 * .test.ts) because src/sandbox has not landed on main; once it has: `git merge main`, rename
 * this file to fleet-sandbox.test.ts, and adapt the FaultSpec literals to the real type.
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startSandbox } from "../../src/sandbox/index.js";
import { makeHome, runCli, type Sandbox as Home } from "../helpers/cli.js";

interface RunningSandbox {
  urls: Record<string, string>;
  token: string;
  env(): Record<string, string>;
  requests(): { provider: string; method: string; path: string; status: number; at: string }[];
  setFaults(faults: unknown): void;
  close(): Promise<void>;
}

const PROVIDERS = [
  { id: "hetzner", region: "fsn1", size: "cx22", tokenEnv: "HCLOUD_TOKEN", createPath: /^\/v1\/servers$/ },
  { id: "fly", region: "ams", size: "shared-cpu-1x-2gb", tokenEnv: "FLY_API_TOKEN", createPath: /^\/v1\/apps\/[^/]+\/machines$/ },
  { id: "digitalocean", region: "fra1", size: "s-1vcpu-2gb", tokenEnv: "DIGITALOCEAN_ACCESS_TOKEN", createPath: /^\/v2\/droplets$/ },
] as const;

let sandbox: RunningSandbox;
let dir: string;

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), "automna-sbx-"));
  sandbox = (await startSandbox({ dir, actionDelayMs: 20, rateLimitScale: 100 })) as RunningSandbox;
});
afterAll(async () => {
  await sandbox?.close();
  rmSync(dir, { recursive: true, force: true });
});

function env(home: Home, extra: Record<string, string> = {}): Record<string, string> {
  return { ...home.env, ...sandbox.env(), AUTOMNA_IMAGE: "ghcr.io/automna/agent:1", AUTOMNA_POLL_MS: "10", AUTOMNA_RATE_SCALE: "100", ...extra };
}

describe.each(PROVIDERS)("fleet on $id", (p) => {
  const home = makeHome();
  afterAll(() => home.cleanup());
  const flags = ["--provider", p.id, "--region", p.region, "--size", p.size];

  it("provisions, lists, shows status, refreshes, destroys", async () => {
    const made = await runCli(["provision", "alice", "bob", ...flags, "--json"], { env: env(home) });
    expect(made.code).toBe(0);
    const report = made.json<{ results: { user: string; result: string; status: string }[] }>();
    expect(report.results.map((r) => [r.user, r.result, r.status])).toEqual([["alice", "created", "running"], ["bob", "created", "running"]]);

    const again = await runCli(["provision", "alice", ...flags, "--json"], { env: env(home) });
    expect(again.json<{ results: { result: string }[] }>().results[0]!.result).toBe("exists");

    const list = await runCli(["list", "--provider", p.id, "-o", "json"], { env: env(home) });
    expect(list.json<{ user: string; status: string; monthlyPrice: number }[]>().map((r) => [r.user, r.status, r.monthlyPrice > 0])).toEqual([["alice", "running", true], ["bob", "running", true]]);

    const status = await runCli(["status", "alice", "--json"], { env: env(home) });
    const s = status.json<{ live: { status: string }; health: { ok: boolean }; usage: { kind: string }[] }>();
    expect(s.live.status).toBe("running");
    expect(s.health.ok).toBe(true);
    expect(s.usage.map((u) => u.kind)).toContain("server");

    const refreshed = await runCli(["list", "--refresh", "-o", "json"], { env: env(home) });
    expect(refreshed.code).toBe(0);

    const gone = await runCli(["destroy", "alice", "--yes", "--json"], { env: env(home) });
    expect(gone.json<{ result: string }[]>()[0]!.result).toBe("destroyed");
    const twice = await runCli(["destroy", "alice", "--yes", "--json"], { env: env(home) });
    expect(twice.json<{ result: string }[]>()[0]!.result).toBe("absent");
  });

  it("doctor finds an orphan and a missing instance, and --fix repairs both", async () => {
    const other = makeHome();
    // An orphan: made through another state database, unknown to this one.
    expect((await runCli(["provision", "orphan-1", ...flags], { env: env(other) })).code).toBe(0);
    expect((await runCli(["provision", "carol", ...flags], { env: env(home) })).code).toBe(0);
    // Carol's resource removed behind automna's back (through the other home's state).
    expect((await runCli(["provision", "carol", ...flags], { env: env(other) })).code).toBe(0);
    expect((await runCli(["destroy", "carol", "--yes"], { env: env(other) })).code).toBe(0);
    const drift = await runCli(["doctor", "--provider", p.id, "--json"], { env: env(home) });
    expect(drift.code).toBe(1);
    const kinds = drift.json<{ drift: { kind: string; user: string }[] }>().drift.map((d) => `${d.kind}:${d.user}`).sort();
    expect(kinds).toEqual(expect.arrayContaining(["missing:carol", "orphan:orphan-1"]));
    const fixed = await runCli(["doctor", "--provider", p.id, "--fix", "--yes", "--json"], { env: env(home) });
    expect(fixed.code).toBe(0);
    expect((await runCli(["doctor", "--provider", p.id], { env: env(home) })).code).toBe(0);
    other.cleanup();
  });

  it("bulk provisions 50 users", async () => {
    const users = Array.from({ length: 50 }, (_, i) => `bulk-${i}`).join("\n");
    const r = await runCli(["provision", "--from-file", "-", ...flags, "--concurrency", "16", "--json"], { env: env(home), stdin: users });
    expect(r.code).toBe(0);
    expect(r.json<{ summary: { created: number } }>().summary.created).toBe(50);
  });

  it("a create that commits then answers 504 leaves exactly one resource and no second POST", async () => {
    sandbox.setFaults({ [p.id]: { commitThen504: { route: "create", count: 1 } } });
    const before = sandbox.requests().length;
    const r = await runCli(["provision", "dave", ...flags, "--json"], { env: env(home) });
    sandbox.setFaults({});
    expect(r.code).toBe(0);
    const posts = sandbox.requests().slice(before).filter((q) => q.method === "POST" && p.createPath.test(q.path));
    expect(posts).toHaveLength(1);
    expect(r.json<{ results: { result: string }[] }>().results[0]!.result).toBe("adopted");
  });

  it("a wrong token is an auth error naming the variable", async () => {
    const r = await runCli(["provision", "erin", ...flags], { env: env(home, { [p.tokenEnv]: "wrong-token-000000" }) });
    expect(r.code).toBe(1);
    expect(r.stderr).toContain(p.tokenEnv);
    expect(r.stderr).not.toContain("wrong-token-000000");
  });
});
