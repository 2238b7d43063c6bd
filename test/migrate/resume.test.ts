import { createHash, randomBytes } from "node:crypto";
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, relative } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createContext, type Context } from "../../src/context.js";
import { buildEngineDeps } from "../../src/migrate/deps.js";
import { resumeMigration, startMigration } from "../../src/migrate/engine.js";
import { planMigration } from "../../src/migrate/plan.js";
import { MIGRATE_STEPS, type MigrateEvent } from "../../src/migrate/types.js";
import { startSandbox, type RunningSandbox } from "../../src/sandbox/index.js";
import { makeHome, MemoryStream, runCli, type Sandbox as Home } from "../helpers/cli.js";
import { LocalHosts } from "./local-hosts.js";

/**
 * Resume after an interruption at every step, in process: the lease is broken the moment a step
 * starts, so the step's work runs but its `done` is refused (fencing) and the operation is left
 * exactly as a crash after the side effect would leave it. `migrate resume` must then finish
 * without doing any side effect twice. (test/migrate/crash.test.ts does the same with SIGKILL.)
 */
let sandbox: RunningSandbox;
let home: Home;
let hosts: LocalHosts;
const root = mkdtempSync(join(tmpdir(), "automna-resume-"));

beforeAll(async () => {
  sandbox = await startSandbox({ dir: join(root, "world"), actionDelayMs: 10, rateLimitScale: 1000, simulatedHosts: false });
  home = makeHome();
  hosts = new LocalHosts(join(root, "local"));
});
afterAll(async () => {
  await sandbox.close();
  home.cleanup();
  rmSync(root, { recursive: true, force: true });
});

const env = (): Record<string, string> => ({
  ...home.env, ...sandbox.env(), AUTOMNA_IMAGE: "ghcr.io/automna/agent:1", AUTOMNA_POLL_MS: "5", AUTOMNA_RATE_SCALE: "1000",
  AUTOMNA_HEALTH_CHECKS: "2", AUTOMNA_HEALTH_INTERVAL: "10ms", AUTOMNA_HEALTH_TIMEOUT: "5s",
});
const context = (): Context => createContext({ streams: { stdout: new MemoryStream(), stderr: new MemoryStream(), stdin: process.stdin }, env: env() });

function digest(dir: string): string {
  const h = createHash("sha256");
  const walk = (d: string): void => {
    for (const name of readdirSync(d).sort()) {
      const p = join(d, name);
      if (statSync(p).isDirectory()) walk(p);
      else h.update(`${relative(dir, p)}\0`).update(readFileSync(p));
    }
  };
  walk(dir);
  return h.digest("hex");
}

// (unlock is all state: nothing to interrupt between its work and its done that the SIGKILL test does not cover.)
const STEPS = MIGRATE_STEPS.filter((s) => s !== "lock" && s !== "unlock");

describe("resume after an interruption at every step (in process)", () => {
  it("finishes every one, with one target, equal data and no side effect twice", async () => {
    const users = STEPS.map((_, i) => `res-${i}`);
    const made = await runCli(["provision", ...users, "--provider", "hetzner", "--region", "fsn1", "--size", "cx22", "--concurrency", "16", "--json"], { env: env() });
    expect(made.code, made.stderr).toBe(0);
    const ctx = context();
    const state = await ctx.state();
    const sources = new Map<string, string>();
    for (const user of users) {
      const row = (await state.getInstance(user))!;
      const data = join(hosts.dir(row), "data");
      mkdirSync(join(data, "blobs"), { recursive: true });
      writeFileSync(join(data, "blobs", "a.bin"), randomBytes(200 * 1024));
      writeFileSync(join(data, "profile.json"), `{"user":"${user}"}`);
      writeFileSync(join(hosts.dir(row), "agent"), "running\n");
      sources.set(user, data);
    }
    const plan = await planMigration(ctx, { users, from: "hetzner", to: "digitalocean", keepSourceMs: 3_600_000 });
    const before = { api: sandbox.requests().length, s3: sandbox.s3.requests.length, dns: sandbox.cloudflare.requests.length };
    const breakAt = new Map(users.map((u, i) => [u, STEPS[i]!]));
    const onEvent = (e: MigrateEvent): void => {
      if (e.phase !== "start" || breakAt.get(e.user) !== e.step) return;
      // The step's work runs on; its `done` will be refused.
      void state.getLease(e.user).then((l) => l && state.breakLease(e.user, l.leaseId));
    };
    const deps = await buildEngineDeps(ctx, hosts.run, onEvent);
    const first = await Promise.all(plan.users.map((p) => startMigration(deps, p.user, p.params)));
    for (const [i, o] of first.entries()) {
      expect(o.result, `${o.user} at ${STEPS[i]}`).toBe("failed");
      expect(o.error?.code, `${o.user} at ${STEPS[i]}: ${o.error?.message}`).toBe("locked");
    }
    const second = await Promise.all(first.map((o) => resumeMigration(deps, o.op)));
    await deps.close();
    for (const [i, o] of second.entries()) expect(o.result, `${o.user} interrupted at ${STEPS[i]}: ${o.error?.message}`).toBe("migrated");

    for (const user of users) {
      const live = (await state.getInstance(user))!;
      expect(live.provider).toBe("digitalocean");
      expect(digest(join(hosts.dir(live), "data")), user).toBe(digest(sources.get(user)!));
      const op = second.find((o) => o.user === user)!.op;
      const journal = await state.listJournal(op);
      expect(journal.filter((e) => e.phase === "done").map((e) => e.step).filter((s, i, all) => all.indexOf(s) === i)).toEqual([...MIGRATE_STEPS]);
    }
    // Exactly one droplet per user, each created by one POST; one PUT per archive; one DNS write per name.
    const api = sandbox.requests().slice(before.api);
    expect(api.filter((r) => r.method === "POST" && r.path === "/v2/droplets" && r.status < 300)).toHaveLength(users.length);
    const puts = sandbox.s3.requests.slice(before.s3).filter((r) => r.method === "PUT").map((r) => r.key);
    expect(puts.length).toBe(new Set(puts).size);
    expect(puts).toHaveLength(users.length * 2);
    const dnsWrites = sandbox.cloudflare.requests.slice(before.dns).filter((r) => r.method !== "GET");
    expect(dnsWrites).toHaveLength(users.length);
    const droplets = (await (await fetch(`${sandbox.urls.digitalocean}/v2/droplets?per_page=200`, { headers: { authorization: `Bearer ${sandbox.token}` } })).json()) as { droplets: { name: string }[] };
    for (const user of users) expect(droplets.droplets.filter((d) => d.name === `automna-${user}`), user).toHaveLength(1);
    await ctx.dispose();
  });
});
