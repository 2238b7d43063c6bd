import { createHash, randomBytes } from "node:crypto";
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, relative } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createContext, type Context } from "../../src/context.js";
import { buildEngineDeps } from "../../src/migrate/deps.js";
import { resumeMigration, rollbackMigration, startMigration } from "../../src/migrate/engine.js";
import { planMigration } from "../../src/migrate/plan.js";
import { MIGRATE_STEPS, type MigrateEvent } from "../../src/migrate/types.js";
import { startSandbox, type RunningSandbox } from "../../src/sandbox/index.js";
import { makeHome, MemoryStream, runCli, type Sandbox as Home } from "../helpers/cli.js";
import { LocalHosts } from "./local-hosts.js";

let sandbox: RunningSandbox;
let home: Home;
let hosts: LocalHosts;
const root = mkdtempSync(join(tmpdir(), "automna-engine-"));

beforeAll(async () => {
  sandbox = await startSandbox({ dir: join(root, "world"), actionDelayMs: 10, rateLimitScale: 1000 });
  home = makeHome();
  hosts = new LocalHosts(join(root, "local"));
});
afterAll(async () => {
  await sandbox.close();
  home.cleanup();
  rmSync(root, { recursive: true, force: true });
});

function env(extra: Record<string, string> = {}): Record<string, string> {
  return {
    ...home.env, ...sandbox.env(), AUTOMNA_IMAGE: "ghcr.io/automna/agent:1", AUTOMNA_POLL_MS: "5", AUTOMNA_RATE_SCALE: "1000",
    AUTOMNA_HEALTH_CHECKS: "2", AUTOMNA_HEALTH_INTERVAL: "10ms", AUTOMNA_HEALTH_TIMEOUT: "3s", ...extra,
  };
}

function context(extra: Record<string, string> = {}): Context {
  return createContext({ streams: { stdout: new MemoryStream(), stderr: new MemoryStream(), stdin: process.stdin }, env: env(extra) });
}

/** Every regular file under dir: relative path -> sha256. */
function tree(dir: string): Record<string, string> {
  const out: Record<string, string> = {};
  const walk = (d: string): void => {
    for (const name of readdirSync(d)) {
      const p = join(d, name);
      if (statSync(p).isDirectory()) walk(p);
      else out[relative(dir, p)] = createHash("sha256").update(readFileSync(p)).digest("hex");
    }
  };
  walk(dir);
  return out;
}

async function provisionWithData(user: string, provider: string, region: string, size: string): Promise<string> {
  const made = await runCli(["provision", user, "--provider", provider, "--region", region, "--size", size, "--json"], { env: env() });
  expect(made.code, made.stderr).toBe(0);
  const ctx = context();
  const row = (await (await ctx.state()).getInstance(user))!;
  await ctx.dispose();
  const data = join(hosts.dir(row), "data");
  mkdirSync(join(data, "blobs"), { recursive: true });
  mkdirSync(join(data, "memory"), { recursive: true });
  for (let i = 0; i < 4; i++) writeFileSync(join(data, "blobs", `blob-${i}.bin`), randomBytes(512 * 1024));
  writeFileSync(join(data, "memory", "profile.json"), JSON.stringify({ user }));
  writeFileSync(join(data, "name with spaces.txt"), "spaces survive\n");
  writeFileSync(join(hosts.dir(row), "agent"), "running\n");
  return data;
}

async function migrate(user: string, from: string, to: string, extra: Record<string, string> = {}, events: MigrateEvent[] = []) {
  const ctx = context(extra);
  const deps = await buildEngineDeps(ctx, hosts.run, (e) => events.push(e));
  try {
    const plan = await planMigration(ctx, { users: [user], from, to, keepSourceMs: 3_600_000 });
    return { outcome: await startMigration(deps, user, plan.users[0]!.params), ctx };
  } finally {
    await deps.close();
    await ctx.dispose();
  }
}

describe("migration engine (local shell hosts, real sandbox APIs, object store, DNS and state)", () => {
  it("hetzner -> digitalocean: every step journaled intent then done, data identical, roles, billing and DNS switched", async () => {
    const sourceData = await provisionWithData("alice", "hetzner", "fsn1", "cx22");
    const events: MigrateEvent[] = [];
    const { outcome } = await migrate("alice", "hetzner", "digitalocean", {}, events);
    expect(outcome.error).toBeNull();
    expect(outcome.result).toBe("migrated");
    const ctx = context();
    const state = await ctx.state();
    const live = (await state.getInstance("alice"))!;
    expect(live.provider).toBe("digitalocean");
    const retired = (await state.listInstances({ user: "alice", role: "retired" }))[0]!;
    expect(retired.provider).toBe("hetzner");
    expect(retired.status).toBe("stopped");
    expect(typeof retired.meta.retireUntil).toBe("string");
    expect(tree(join(hosts.dir(live), "data"))).toEqual(tree(sourceData));
    expect(Object.keys(tree(sourceData))).toContain("name with spaces.txt");
    expect(readFileSync(join(hosts.dir(retired), "agent"), "utf8").trim()).toBe("stopped");
    expect(readFileSync(join(hosts.dir(live), "agent"), "utf8").trim()).toBe("running");

    const journal = await state.listJournal(outcome.op);
    const steps = journal.filter((e) => e.phase === "done").map((e) => e.step);
    expect(steps).toEqual([...MIGRATE_STEPS]);
    for (const step of MIGRATE_STEPS) {
      const mine = journal.filter((e) => e.step === step).map((e) => e.phase);
      expect(mine, step).toEqual(["intent", "done"]);
    }
    const switched = journal.find((e) => e.step === "switch" && e.phase === "done")!.data;
    expect(switched).toMatchObject({ name: "alice.agents.example.test", type: "A", content: live.addresses.ipv4 });
    expect(sandbox.cloudflare.records().filter((r) => r.name === "alice.agents.example.test").map((r) => [r.type, r.content])).toEqual([["A", live.addresses.ipv4]]);

    const usage = await state.listUsage({ user: "alice" });
    const at = String(switched.switchedAt);
    expect(usage.filter((u) => u.provider === "hetzner").every((u) => u.end === at)).toBe(true);
    const opened = usage.filter((u) => u.provider === "digitalocean");
    expect(opened.length).toBeGreaterThan(0);
    expect(opened.map((u) => [u.start, u.end])).toEqual(opened.map(() => [at, null]));
    expect(events.filter((e) => e.phase === "start").map((e) => e.step)).toEqual([...MIGRATE_STEPS]);
    await ctx.dispose();
  });

  it("a corrupted download is caught by the archive checksum: no switch, source agent serving, target destroyed", async () => {
    await provisionWithData("bob", "hetzner", "fsn1", "cx22");
    sandbox.s3.faults.corruptNextDownloads(1);
    const { outcome } = await migrate("bob", "hetzner", "digitalocean");
    expect(outcome.result).toBe("rolled_back");
    expect(outcome.error?.message).toMatch(/corrupted in transfer/);
    const ctx = context();
    const state = await ctx.state();
    const rows = await state.listInstances({ user: "bob" });
    expect(rows.map((r) => [r.provider, r.role])).toEqual([["hetzner", "live"]]);
    expect(readFileSync(join(hosts.dir(rows[0]!), "agent"), "utf8").trim()).toBe("running");
    const journal = await state.listJournal(outcome.op);
    expect(journal.some((e) => e.step === "switch")).toBe(false);
    expect(journal.filter((e) => e.phase === "undone").map((e) => e.step)).toEqual(["provision", "warm-archive"]);
    expect(sandbox.cloudflare.records().some((r) => r.name.startsWith("bob."))).toBe(false);
    const droplets = await fetch(`${sandbox.urls.digitalocean}/v2/droplets?tag_name=automna`, { headers: { authorization: `Bearer ${sandbox.token}` } });
    expect(((await droplets.json()) as { droplets: { name: string }[] }).droplets.filter((d) => d.name === "automna-bob")).toEqual([]);
    await ctx.dispose();
    expect(resumeMigration).toBeTypeOf("function");
    expect(rollbackMigration).toBeTypeOf("function");
  });
});
