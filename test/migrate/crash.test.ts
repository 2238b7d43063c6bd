import { execa } from "execa";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { MIGRATE_STEPS } from "../../src/migrate/types.js";
import { automna, BIN } from "../helpers/bin.js";
import { expectCarriedOver, hostDir, instances, listingDigestOf, migrateWorld, provision, type MigrateWorld } from "./world.js";

/**
 * SIGKILL of the CLI (the built binary) at every step in turn: right after the step's intent is
 * journaled, right after its external call returned (before `done`), and right after `done`.
 * One user's migration is killed at the first point; each `automna migrate resume` is itself
 * killed at the next point, and so on, until a last resume finishes from state alone. (A resume
 * re-takes the lock without re-running its step, so the lock's later points get users of their own.)
 * Then: exactly one target resource, the data equal, and no side effect twice, checked against
 * the sandbox's request logs.
 */
const POINTS = MIGRATE_STEPS.flatMap((step) => (["intent", "after", "done"] as const).map((phase) => `${step}:${phase}`));
const CHAIN = POINTS.filter((p) => p !== "lock:after" && p !== "lock:done");

let w: MigrateWorld;
beforeAll(async () => {
  w = await migrateWorld({ addressBase: "127.83", seedBytes: 512 * 1024, writeEveryMs: 200 });
});
afterAll(async () => {
  await w?.cleanup();
});

interface Row { op: string; user: string }
const migrate = (user: string, crash?: string) =>
  automna(["migrate", user, "--from", "hetzner", "--to", "digitalocean", "--yes", "--json"], crash ? { ...w.env, AUTOMNA_CRASH_AT: crash } : w.env, { timeout: 60_000 });
const resume = (op: string, crash?: string) => automna(["migrate", "resume", op, "--json", "--yes"], crash ? { ...w.env, AUTOMNA_CRASH_AT: crash } : w.env, { timeout: 60_000 });

async function opOf(user: string): Promise<string> {
  const res = await automna(["migrate", "status", "-o", "json", "--limit", "1000"], w.env);
  return (JSON.parse(res.stdout) as Row[]).find((r) => r.user === user)!.op;
}

describe("SIGKILL at every step, then migrate resume (built binary)", () => {
  it(`finishes after a kill at each of the ${POINTS.length} points, with one target and no side effect twice`, async () => {
    const users = ["chain", "lock-after", "lock-done"];
    await provision(w, "hetzner", users);
    const before = { api: w.sb.requests().length, s3: w.sb.s3.requests.length, dns: w.sb.cloudflare.requests.length };

    const [first, ...rest] = CHAIN;
    const killed = await migrate("chain", first);
    expect(killed.signal, killed.stderr).toBe("SIGKILL");
    const op = await opOf("chain");
    for (const point of rest) {
      const run = await resume(op, point);
      expect(run.signal, `resume killed at ${point}: ${run.stderr}`).toBe("SIGKILL");
    }
    const done = await resume(op);
    expect(done.exitCode, done.stderr).toBe(0);
    expect(JSON.parse(done.stdout).results[0].result).toBe("migrated");
    for (const [user, point] of [["lock-after", "lock:after"], ["lock-done", "lock:done"]] as const) {
      expect((await migrate(user, point)).signal).toBe("SIGKILL");
      const finished = await resume(await opOf(user));
      expect(finished.exitCode, `${point}: ${finished.stderr}`).toBe(0);
    }

    for (const user of users) {
      const rows = await instances(w, user);
      const live = rows.find((x) => x.role === "live")!;
      const retired = rows.find((x) => x.role === "retired")!;
      expect([live.provider, retired.provider, retired.status], user).toEqual(["digitalocean", "hetzner", "stopped"]);
      const status = await automna(["migrate", "status", await opOf(user), "--json"], w.env);
      const journal = (JSON.parse(status.stdout) as { status: string; journal: { step: string; phase: string; data: Record<string, unknown> }[] });
      expect(journal.status).toBe("succeeded");
      const verified = journal.journal.find((e) => e.step === "verify" && e.phase === "done")!.data;
      expect(verified.listing, user).toBe(listingDigestOf(`${hostDir(w, retired)}/data`));
      expect(expectCarriedOver(`${hostDir(w, retired)}/data`, `${hostDir(w, live)}/data`), user).toEqual([]);
    }
    // The chain's journal: every step done exactly once, in order.
    const chain = JSON.parse((await automna(["migrate", "status", op, "--json"], w.env)).stdout) as { journal: { step: string; phase: string }[] };
    expect(chain.journal.filter((e) => e.phase === "done" && e.step !== "lock").map((e) => e.step)).toEqual(MIGRATE_STEPS.filter((s) => s !== "lock"));
    expect(chain.journal.some((e) => e.phase === "failed" || e.phase === "undone")).toBe(false);

    // No side effect twice: one droplet created per user, one PUT per archive, one DNS write per name.
    const api = w.sb.requests().slice(before.api);
    expect(api.filter((q) => q.method === "POST" && q.path === "/v2/droplets")).toHaveLength(users.length);
    const droplets = (await (await fetch(`${w.sb.urls.digitalocean}/v2/droplets?per_page=200`, { headers: { authorization: `Bearer ${w.sb.token}` } })).json()) as { droplets: { name: string }[] };
    for (const user of users) expect(droplets.droplets.filter((d) => d.name === `automna-${user}`), user).toHaveLength(1);
    const puts = w.sb.s3.requests.slice(before.s3).filter((q) => q.method === "PUT").map((q) => q.key!);
    expect(puts.sort()).toEqual([...new Set(puts)].sort());
    expect(puts).toHaveLength(users.length * 2);
    const writes = w.sb.cloudflare.requests.slice(before.dns).filter((q) => q.method !== "GET");
    expect(writes).toHaveLength(users.length);
  }, 180_000);
});

describe("a holder paused past its lease (built binary)", () => {
  it("is refused while its lease lives, replaced once it expires, and fenced off when it wakes", async () => {
    await provision(w, "hetzner", ["stale-1"]);
    const env = { ...w.env, AUTOMNA_MIGRATE_LEASE_TTL: "4s" };
    const first = execa(process.execPath, [BIN, "migrate", "stale-1", "--from", "hetzner", "--to", "digitalocean", "--yes", "-o", "ndjson"], { env, extendEnv: false, reject: false });
    let op = "";
    await new Promise<void>((resolve) => {
      let buffer = "";
      first.stdout!.on("data", (chunk: Buffer) => {
        buffer += chunk.toString();
        for (const line of buffer.split("\n").slice(0, -1)) {
          const e = JSON.parse(line) as { step?: string; phase?: string; op?: string };
          if (e.step === "warm-archive" && e.phase === "start" && !op) {
            op = e.op!;
            first.kill("SIGSTOP");
            resolve();
          }
        }
        buffer = buffer.slice(buffer.lastIndexOf("\n") + 1);
      });
    });
    // A process stopped inside an SQLite write transaction would block the embedded database for
    // everyone (a stalled holder elsewhere, with a state server, would not): pause it between writes.
    for (;;) {
      // A write (a lease on a throwaway user), not a read: WAL readers pass a stalled writer.
      const probe = await automna(["lock", "run", "probe-user", "--", "true"], { ...w.env, AUTOMNA_STATE_BUSY_TIMEOUT_MS: "200" });
      if (probe.exitCode === 0) break;
      first.kill("SIGCONT");
      await new Promise((r) => setTimeout(r, 30));
      first.kill("SIGSTOP");
    }
    // Its lease is still live (the process exists, it just does nothing): refused, holder named.
    const early = await resume(op);
    expect(early.exitCode).toBe(4);
    expect(early.stderr).toContain(`stale-1 is locked by tester@`);
    expect(early.stderr).toContain(`(${op})`);
    // Until the paused holder's lease has expired (expired leases are not listed).
    for (;;) {
      const locks = JSON.parse((await automna(["lock", "list", "--json"], w.env)).stdout) as { user: string }[];
      if (!locks.some((l) => l.user === "stale-1")) break;
      await new Promise((r) => setTimeout(r, 250));
    }
    const takeover = await automna(["migrate", "resume", op, "--json", "--yes"], env, { timeout: 60_000 });
    expect(takeover.exitCode, takeover.stderr).toBe(0);
    first.kill("SIGCONT");
    const late = await first;
    expect(late.exitCode).toBe(4);
    expect(late.stderr).toMatch(/no longer held|was lost/);
    const rows = await instances(w, "stale-1");
    expect(rows.map((r) => [r.provider, r.role]).sort()).toEqual([["digitalocean", "live"], ["hetzner", "retired"]]);
    const journal = JSON.parse((await automna(["migrate", "status", op, "--json"], w.env)).stdout) as { status: string; journal: { step: string; phase: string }[] };
    expect(journal.status).toBe("succeeded");
    expect(journal.journal.filter((e) => e.phase === "done" && e.step === "verify")).toHaveLength(1);
  }, 60_000);
});

describe("migrate rollback (built binary)", () => {
  it("undoes a migration killed before the switch, and refuses one past it with exit 2", async () => {
    await provision(w, "hetzner", ["undo-1"]);
    expect((await migrate("undo-1", "freeze:after")).signal).toBe("SIGKILL");
    const op = await opOf("undo-1");
    const undo = await automna(["migrate", "rollback", op, "--yes"], w.env, { timeout: 60_000 });
    expect(undo.exitCode, undo.stderr).toBe(0);
    expect(undo.stderr).toContain(`${op}: rolled back; undo-1 runs on hetzner as before`);
    expect((await instances(w, "undo-1")).map((r) => [r.provider, r.role, r.status])).toEqual([["hetzner", "live", "running"]]);
    const health = JSON.parse((await automna(["status", "undo-1", "--json"], w.env)).stdout) as { health: { ok: boolean } };
    expect(health.health.ok).toBe(true);
    expect(w.sb.s3.requests.filter((q) => q.method === "DELETE" && q.key?.startsWith(`migrations/undo-1/${op}/`)).length).toBeGreaterThan(0);

    const finished = await opOf("chain");
    const refused = await automna(["migrate", "rollback", finished, "--yes"], w.env);
    expect(refused.exitCode).toBe(2);
    expect(refused.stderr).toContain(`${finished} is past the routing switch`);
    const human = await automna(["migrate", "status", op], w.env);
    expect(human.stdout).toMatch(/^status:\s+rolled_back$/m);
    expect(human.stdout).toMatch(/^\s*\d+\s+\S+\s+provision\s+undone\s+target removed/m);
  }, 60_000);
});
