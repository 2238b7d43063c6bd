import { createHash } from "node:crypto";
import { existsSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { FAILOVER_STEPS } from "../../src/migrate/failover.js";
import { automna } from "../helpers/bin.js";
import { budget, QUIET_MS } from "../helpers/budget.js";
import { runCli } from "../helpers/cli.js";
import { hostDir, instances, migrateWorld, provision, type InstanceRow, type MigrateWorld } from "../migrate/world.js";

/**
 * The outage drill: Hetzner users backed up, Hetzner goes down (API 503, hosts unreachable, still
 * running), `failover --provider hetzner --to fly` is SIGKILLed mid-way and run again, every user
 * comes back on Fly with the data of its newest backup, the outage ends and `doctor --fix` stops
 * the zombies. DRILL_USERS users (6 by default, AUTOMNA_DRILL_USERS=20 for the full drill;
 * bench/failover.mjs measures 100).
 */
const DRILL_USERS = Number(process.env.AUTOMNA_DRILL_USERS ?? 6);
const USERS = Array.from({ length: DRILL_USERS }, (_, i) => `fo-${String(i).padStart(2, "0")}`);
const FORCED = "fo-forced";

let w: MigrateWorld;
beforeAll(async () => {
  // Agents write rarely: what a user's /data holds is what the test put there.
  w = await migrateWorld({ addressBase: "127.152", seedBytes: 16 * 1024, writeEveryMs: 600_000 });
});
afterAll(async () => {
  await w?.cleanup();
});

const sha = (text: string) => createHash("sha256").update(text).digest("hex");
const live = async (user: string): Promise<InstanceRow> => (await instances(w, user)).find((r) => r.role === "live")!;
const admin = (method: string, path: string) => fetch(`${w.sb.urls.admin}${path}`, { method, body: method === "POST" ? "{}" : undefined });
const run = (args: string[], crash?: string) => automna(args, crash ? { ...w.env, AUTOMNA_CRASH_AT: crash } : w.env, { quietMs: QUIET_MS.binaryRun + USERS.length * QUIET_MS.migration / 4 });

/** The operations' status and journal, from the state store. */
async function journals(ops: string[]): Promise<{ status: string; journal: { step: string; phase: string }[] }[]> {
  const { createContext } = await import("../../src/context.js");
  const { MemoryStream } = await import("../helpers/cli.js");
  const ctx = createContext({ streams: { stdout: new MemoryStream(), stderr: new MemoryStream(), stdin: process.stdin }, env: w.env });
  try {
    const state = await ctx.state();
    return await Promise.all(ops.map(async (id) => ({ status: (await state.getOperation(id))!.status, journal: await state.listJournal(id) })));
  } finally {
    await ctx.dispose();
  }
}

interface Doctor { drift: { kind: string; user: string; provider: string; fixed?: string }[]; fixed: number }

describe("the outage drill", () => {
  it("refuses to fail over a user whose agent answers, unless --force (which stops the old agent first)", async () => {
    await provision(w, "hetzner", [FORCED]);
    expect((await runCli(["backup", FORCED], { env: w.env })).code).toBe(0);
    const refused = await runCli(["failover", FORCED, "--to", "fly", "--yes"], { env: w.env });
    expect(refused.code).toBe(2);
    expect(refused.stderr).toContain(`failover refused: ${FORCED}'s agent on hetzner answers its health check`);
    expect(refused.stderr).toContain("--force");

    const before = await live(FORCED);
    const forced = await runCli(["failover", FORCED, "--to", "fly", "--force", "--yes", "--json"], { env: w.env });
    expect(forced.code, forced.stderr).toBe(0);
    expect(forced.json<{ results: { result: string }[] }>().results[0]!.result).toBe("failed_over");
    // Its agent stopped, then its machine powered off (the API answers), so nothing starts it again.
    expect(w.sb.simHost(`hetzner:${before.resources.server}`)!.running()).toBe(false);
    expect((await live(FORCED)).provider).toBe("fly");
  }, budget(QUIET_MS.test + 2 * QUIET_MS.migration));

  it(`brings ${USERS.length} Hetzner users back on Fly from their newest backups through an outage and a SIGKILL, then doctor --fix stops the zombies`, async () => {
    await provision(w, "hetzner", USERS);
    // What each user has when backed up (restored), and what it writes afterwards (lost).
    for (const user of USERS) writeFileSync(join(hostDir(w, await live(user)), "data", "kept.txt"), `${user} before the backup\n`);
    const backup = await runCli(["backup", "--all", "--concurrency", "8", "--json"], { env: w.env });
    expect(backup.code, backup.stderr.slice(-2000)).toBe(0);
    const sources = new Map<string, InstanceRow>();
    for (const user of USERS) {
      sources.set(user, await live(user));
      writeFileSync(join(hostDir(w, sources.get(user)!), "data", "lost.txt"), "written after the backup\n");
    }

    expect((await admin("POST", "/outage/hetzner")).status).toBe(200);
    const dry = await runCli(["failover", "--provider", "hetzner", "--to", "fly", "--dry-run", "--json"], { env: w.env });
    expect(dry.code, dry.stderr).toBe(0);
    const plan = dry.json<{ plan: { user: string; backupId: string; dataAtRiskMs: number }[] }>().plan;
    expect(plan.map((p) => p.user).sort()).toEqual(USERS);
    expect(plan.every((p) => p.dataAtRiskMs >= 0 && p.backupId.startsWith("bk_"))).toBe(true);

    // Killed right after the first restore lands, before it is journaled done.
    const killed = await run(["failover", "--provider", "hetzner", "--to", "fly", "--yes", "--concurrency", "4"], "restore:after");
    expect(killed.signal).toBe("SIGKILL");
    const again = await run(["failover", "--provider", "hetzner", "--to", "fly", "--yes", "--concurrency", "4", "--json"]);
    expect(again.exitCode, again.stderr.slice(-3000)).toBe(0);
    const results = (JSON.parse(again.stdout) as { results: { user: string; result: string; op: string }[] }).results;
    expect(results.map((r) => r.result)).toEqual(USERS.map(() => "failed_over"));

    for (const user of USERS) {
      const rows = await instances(w, user);
      const now = rows.find((r) => r.role === "live")!;
      const old = rows.find((r) => r.provider === "hetzner")!;
      expect([rows.length, now.provider, old.role, old.status], user).toEqual([2, "fly", "retired", "lost"]);
      const data = join(hostDir(w, now), "data");
      expect(sha(readFileSync(join(data, "kept.txt"), "utf8")), user).toBe(sha(`${user} before the backup\n`));
      expect(existsSync(join(data, "lost.txt")), user).toBe(false);
      const record = w.sb.cloudflare.records().find((r) => r.name.startsWith(`${user}.`))!;
      // Fly is routed by its app's hostname (a CNAME).
      expect(record.content, user).toBe(`${now.resources.app}.fly.dev`);
    }
    for (const op of await journals(results.map((r) => r.op))) {
      expect(op.status).toBe("succeeded");
      // Every step done exactly once, in order, across the killed run and the resumed one.
      expect(op.journal.filter((e) => e.phase === "done" && e.step !== "lock").map((e) => e.step)).toEqual(FAILOVER_STEPS.filter((s) => s !== "lock"));
    }

    // The provider comes back with its hosts and agents still running: a second agent per user.
    expect((await admin("DELETE", "/outage/hetzner")).status).toBe(200);
    const seen = await runCli(["doctor", "--provider", "hetzner", "--json"], { env: w.env });
    expect(seen.code).toBe(1);
    const zombies = seen.json<Doctor>().drift.filter((d) => d.kind === "zombie").map((d) => d.user).sort();
    expect(zombies).toEqual(USERS);

    const fixed = await runCli(["doctor", "--provider", "hetzner", "--fix", "--yes", "--json"], { env: w.env });
    const report = fixed.json<Doctor>();
    expect(report.drift.filter((d) => d.kind === "zombie").map((d) => d.fixed)).toEqual(USERS.map(() => "stopped"));
    for (const user of USERS) expect(w.sb.simHost(`hetzner:${sources.get(user)!.resources.server}`)!.agentRunning(), user).toBe(false);

    const destroyed = await runCli(["doctor", "--provider", "hetzner", "--fix", "--destroy-lost", "--yes", "--json"], { env: w.env });
    // Every lost instance, the forced failover's (powered off then) too.
    expect(destroyed.json<Doctor>().drift.filter((d) => d.kind === "lost").map((d) => d.user).sort()).toEqual([...USERS, FORCED].sort());
    for (const user of USERS) expect((await instances(w, user)).map((r) => r.provider), user).toEqual(["fly"]);
  }, budget(QUIET_MS.test + 4 * QUIET_MS.binaryRun + (USERS.length * QUIET_MS.migration) / 2));
});
