import { createHash, randomBytes } from "node:crypto";
import { lstatSync, mkdirSync, readdirSync, readFileSync, readlinkSync, rmSync, statSync, symlinkSync, writeFileSync } from "node:fs";
import { join, relative } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { Context } from "../../src/context.js";
import { buildEngineDeps } from "../../src/migrate/deps.js";
import { resumeMigration, rollbackMigration, startMigration } from "../../src/migrate/engine.js";
import { planMigration } from "../../src/migrate/plan.js";
import { MIGRATE_STEPS, type MigrateEvent } from "../../src/migrate/types.js";
import type { RunningSandbox } from "../../src/sandbox/index.js";
import { budget, QUIET_MS } from "../helpers/budget.js";
import { runCli } from "../helpers/cli.js";
import type { LocalHosts } from "./local-hosts.js";
import { localWorld, type LocalWorld } from "./local-world.js";

let w: LocalWorld;
let sandbox: RunningSandbox;
let hosts: LocalHosts;

beforeAll(async () => {
  w = await localWorld("engine");
  ({ sandbox, hosts } = w);
});
afterAll(async () => {
  await w?.cleanup();
});

const env = (extra: Record<string, string> = {}): Record<string, string> => w.env(extra);
const context = (extra: Record<string, string> = {}): Context => w.context(extra);

/** Every regular file under dir: relative path -> sha256. */
function tree(dir: string): Record<string, string> {
  const out: Record<string, string> = {};
  const walk = (d: string): void => {
    for (const name of readdirSync(d)) {
      const p = join(d, name);
      if (lstatSync(p).isSymbolicLink()) out[relative(dir, p)] = `-> ${readlinkSync(p)}`;
      else if (statSync(p).isDirectory()) {
        out[`${relative(dir, p)}/`] = "dir";
        walk(p);
      }
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
  writeFileSync(join(data, "-starts-with-dash"), "a dash\n");
  writeFileSync(join(data, "ünïcødé.txt"), "unicode\n");
  mkdirSync(join(data, "empty-dir"));
  symlinkSync("blobs/blob-0.bin", join(data, "latest"));
  writeFileSync(join(hosts.dir(row), "agent"), "running\n");
  return data;
}

async function migrate(user: string, from: string, to: string, extra: Record<string, string> = {}, events: MigrateEvent[] = [], onEvent?: (e: MigrateEvent) => void) {
  const ctx = context(extra);
  const deps = await buildEngineDeps(ctx, hosts.run, onEvent ?? ((e) => events.push(e)));
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
    // The agent keeps writing until it is frozen: changes after the warm copy go in the final one.
    const writeUntilFrozen = (e: MigrateEvent): void => {
      events.push(e);
      if (e.step !== "freeze" || e.phase !== "start") return;
      writeFileSync(join(sourceData, "blobs", "blob-1.bin"), randomBytes(300 * 1024));
      writeFileSync(join(sourceData, "memory", "late.json"), "{}");
      rmSync(join(sourceData, "blobs", "blob-3.bin"));
      rmSync(join(sourceData, "empty-dir"), { recursive: true });
      writeFileSync(join(sourceData, "empty-dir"), "now a file\n");
    };
    const { outcome } = await migrate("alice", "hetzner", "digitalocean", {}, [], writeUntilFrozen);
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
    // blob-1 rewritten, late.json added, empty-dir now a file; and any file written less than 2 s
    // before the warm listing (racily clean: its times cannot vouch for it).
    expect(journal.find((e) => e.step === "freeze" && e.phase === "done")!.data.changed).toBeGreaterThanOrEqual(3);
    // blob-3 and the directory empty-dir.
    expect(journal.find((e) => e.step === "final-restore" && e.phase === "done")!.data).toMatchObject({ removed: 2 });
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

    // The retired source is protected from destroy, and gc takes it only after its grace period.
    const refused = await runCli(["destroy", "alice", "--yes"], { env: env() });
    expect(refused.code).toBe(2);
    expect(refused.stderr).toContain("alice has a retired source on hetzner");
    expect(refused.stderr).toContain("--force");
    const early = await runCli(["gc", "--dry-run", "--json"], { env: env() });
    expect(early.json()).toEqual([]);
    const later = { now: () => new Date(Date.now() + 2 * 3_600_000) };
    const due = await runCli(["gc", "--dry-run", "--json"], { env: env(), clock: later });
    expect(due.json<{ user: string; provider: string; result: string }[]>().map((r) => [r.user, r.provider, r.result])).toEqual([["alice", "hetzner", "due"]]);
    expect(sandbox.s3.requests.some((q) => q.method === "PUT" && q.key === `migrations/alice/${outcome.op}/warm.tar`)).toBe(true);
    const gc = await runCli(["gc", "--yes", "--json"], { env: env(), clock: later });
    expect(gc.code, gc.stderr).toBe(0);
    expect(gc.json<{ result: string; removed: string[] }[]>().map((r) => r.result)).toEqual(["destroyed"]);
    const after = context();
    expect((await (await after.state()).listInstances({ user: "alice" })).map((r) => [r.provider, r.role])).toEqual([["digitalocean", "live"]]);
    await after.dispose();
    const servers = await fetch(`${sandbox.urls.hetzner}/servers?name=automna-alice`, { headers: { authorization: `Bearer ${sandbox.token}` } });
    expect(((await servers.json()) as { servers: unknown[] }).servers).toEqual([]);
    expect(sandbox.s3.requests.some((q) => q.method === "DELETE" && q.key === `migrations/alice/${outcome.op}/warm.tar`)).toBe(true);
  }, budget(QUIET_MS.test + QUIET_MS.migration));

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
  }, budget(QUIET_MS.test + QUIET_MS.migration));
});

describe("migration engine: failures and refusals", () => {
  it("with no DNS configured the switch is skipped with a warning and the migration completes", async () => {
    await provisionWithData("gina", "hetzner", "fsn1", "cx22");
    const events: MigrateEvent[] = [];
    const { outcome } = await migrate("gina", "hetzner", "digitalocean", { AUTOMNA_DNS_TEMPLATE: "", CLOUDFLARE_API_TOKEN: "" }, events);
    expect(outcome.result).toBe("migrated");
    expect(outcome.dns).toBeNull();
    expect(events.filter((e) => e.type === "warn").map((e) => e.message)).toEqual(["no DNS configured (cloudflare.* and dns.template): routing not switched"]);
    expect(sandbox.cloudflare.records().some((r) => r.name.startsWith("gina."))).toBe(false);
  }, budget(QUIET_MS.test + QUIET_MS.migration));

  it("a target that never passes its health checks is rolled back; the source serves again", async () => {
    await provisionWithData("carol", "hetzner", "fsn1", "cx22");
    const { outcome } = await migrate("carol", "hetzner", "digitalocean", { AUTOMNA_HEALTH_PATH: "/not-served", AUTOMNA_HEALTH_TIMEOUT: "200ms" });
    expect(outcome.result).toBe("rolled_back");
    expect(outcome.error?.message).toMatch(/did not pass 2 consecutive health checks/);
    const ctx = context();
    const state = await ctx.state();
    const rows = await state.listInstances({ user: "carol" });
    expect(rows.map((r) => [r.provider, r.role])).toEqual([["hetzner", "live"]]);
    expect(readFileSync(join(hosts.dir(rows[0]!), "agent"), "utf8").trim()).toBe("running");
    const op = (await state.getOperation(outcome.op))!;
    expect(op.status).toBe("rolled_back");
    const journal = await state.listJournal(outcome.op);
    expect(journal.filter((e) => e.phase === "undone").map((e) => e.step)).toEqual(["freeze", "provision", "warm-archive"]);
    expect(journal.filter((e) => e.phase === "failed").map((e) => e.step)).toEqual(["start-target"]);
    await ctx.dispose();
  }, budget(QUIET_MS.test + QUIET_MS.migration));

  it("DNS errors are retried; a DNS API that keeps failing leaves the migration past the switch, resumable, never rolled back", async () => {
    await provisionWithData("dave", "hetzner", "fsn1", "cx22");
    sandbox.cloudflare.faults.failNext(2, { status: 502 });
    const first = await migrate("dave", "hetzner", "digitalocean");
    expect(first.outcome.error).toBeNull();
    expect(first.outcome.dns).toMatchObject({ name: "dave.agents.example.test", type: "A" });
    // --force takes the retired source too.
    const forced = await runCli(["destroy", "dave", "--force", "--yes", "--json"], { env: env() });
    expect(forced.code, forced.stderr).toBe(0);
    expect(forced.json<{ result: string; removed: string[] }[]>()[0]!.removed).toEqual(expect.arrayContaining([expect.stringMatching(/^server /), expect.stringMatching(/^droplet /)]));

    await provisionWithData("erin", "hetzner", "fsn1", "cx22");
    sandbox.cloudflare.faults.failNext(50, { status: 503 });
    const failed = await migrate("erin", "hetzner", "digitalocean");
    sandbox.cloudflare.faults.reset();
    expect(failed.outcome.result).toBe("failed");
    expect(failed.outcome.step).toBe("switch");
    const ctx = context();
    const deps = await buildEngineDeps(ctx, hosts.run, () => undefined);
    await expect(rollbackMigration(deps, failed.outcome.op)).rejects.toMatchObject({ exitCode: 2, code: "past_switch" });
    const resumed = await resumeMigration(deps, failed.outcome.op);
    await deps.close();
    expect(resumed.result).toBe("migrated");
    const state = await ctx.state();
    const live = (await state.getInstance("erin"))!;
    expect(live.provider).toBe("digitalocean");
    // State and DNS agree: exactly one record, pointing at the live instance.
    expect(sandbox.cloudflare.records().filter((r) => r.name === "erin.agents.example.test").map((r) => [r.type, r.content])).toEqual([["A", live.addresses.ipv4]]);
    await ctx.dispose();
  }, budget(QUIET_MS.test + QUIET_MS.migration));

  it("a second migration of a user while the first holds the lease is refused at once with exit 4 naming the holder", async () => {
    await provisionWithData("fred", "hetzner", "fsn1", "cx22");
    let second: unknown;
    const events: MigrateEvent[] = [];
    const first = migrate("fred", "hetzner", "digitalocean", {}, events);
    while (!events.some((e) => e.step === "warm-archive")) await new Promise((r) => setTimeout(r, 5));
    try {
      await migrate("fred", "hetzner", "digitalocean");
    } catch (error) {
      second = error;
    }
    expect((await first).outcome.result).toBe("migrated");
    expect(second).toMatchObject({ exitCode: 4 });
    const opId = (await first).outcome.op;
    expect((second as Error).message).toContain(`fred is locked by tester@`);
    expect((second as Error).message).toContain(`(${opId})`);
  }, budget(QUIET_MS.test + QUIET_MS.migration));
});
