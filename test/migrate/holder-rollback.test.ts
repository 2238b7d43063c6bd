import { execa } from "execa";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { automna, BIN } from "../helpers/bin.js";
import { budget, budgetSetting, QUIET_MS } from "../helpers/budget.js";
import { runCli } from "../helpers/cli.js";
import { instances, migrateWorld, migrationOf, provision, type MigrateWorld } from "./world.js";

/** The built binary's migrations that stop half-way: a holder paused past its lease, and rollback. */
let w: MigrateWorld;
beforeAll(async () => {
  w = await migrateWorld({ addressBase: "127.86", seedBytes: 512 * 1024, writeEveryMs: 200 });
});
afterAll(async () => {
  await w?.cleanup();
});

const migrate = (user: string, crash: string) =>
  automna(["migrate", user, "--from", "hetzner", "--to", "digitalocean", "--yes", "--json"], { ...w.env, AUTOMNA_CRASH_AT: crash }, { quietMs: QUIET_MS.migration });
const resume = (op: string) => automna(["migrate", "resume", op, "--json", "--yes"], w.env, { quietMs: QUIET_MS.migration });

const opOf = (user: string): Promise<string> => migrationOf(w, user);

/** The paused holder's lease: it must outlive the probes and the refused resume (several binary runs). */
const LEASE_TTL_MS = 12_000;

describe("a holder paused past its lease (built binary)", () => {
  it("is refused while its lease lives, replaced once it expires, and fenced off when it wakes", async () => {
    await provision(w, "hetzner", ["stale-1"]);
    // Long enough that the paused holder's lease still lives after the probes below and the refused
    // resume, a few runs of the binary (4 s was short once a run's load rose after its slowdown was read).
    const env = { ...w.env, AUTOMNA_MIGRATE_LEASE_TTL: budgetSetting(LEASE_TTL_MS) };
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
    // Until the paused holder's lease has expired (expired leases are not listed). Asked in-process:
    // a run of the binary every 250 ms for the lease's life cost the file ~30 Node start-ups.
    for (;;) {
      const locks = (await runCli(["lock", "list", "--json"], { env: w.env })).json<{ user: string }[]>();
      if (!locks.some((l) => l.user === "stale-1")) break;
      await new Promise((r) => setTimeout(r, 250));
    }
    const takeover = await automna(["migrate", "resume", op, "--json", "--yes"], env, { quietMs: QUIET_MS.migration });
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
  }, budget(2 * QUIET_MS.migration + LEASE_TTL_MS));
});

describe("migrate rollback (built binary)", () => {
  it("undoes a migration killed before the switch, and refuses one past it with exit 2", async () => {
    await provision(w, "hetzner", ["undo-1"]);
    expect((await migrate("undo-1", "freeze:after")).signal).toBe("SIGKILL");
    const op = await opOf("undo-1");
    const undo = await automna(["migrate", "rollback", op, "--yes"], w.env, { quietMs: QUIET_MS.migration });
    expect(undo.exitCode, undo.stderr).toBe(0);
    expect(undo.stderr).toContain(`${op}: rolled back; undo-1 runs on hetzner as before`);
    expect((await instances(w, "undo-1")).map((r) => [r.provider, r.role, r.status])).toEqual([["hetzner", "live", "running"]]);
    const health = JSON.parse((await automna(["status", "undo-1", "--json"], w.env)).stdout) as { health: { ok: boolean } };
    expect(health.health.ok).toBe(true);
    expect(w.sb.s3.requests.filter((q) => q.method === "DELETE" && q.key?.startsWith(`migrations/undo-1/${op}/`)).length).toBeGreaterThan(0);

    await provision(w, "hetzner", ["past-1"]);
    const moved = await runCli(["migrate", "past-1", "--from", "hetzner", "--to", "digitalocean", "--yes", "--json"], { env: w.env });
    expect(moved.code, moved.stderr).toBe(0);
    const finished = await opOf("past-1");
    const refused = await automna(["migrate", "rollback", finished, "--yes"], w.env);
    expect(refused.exitCode).toBe(2);
    expect(refused.stderr).toContain(`${finished} is past the routing switch`);
    const human = await automna(["migrate", "status", op], w.env);
    expect(human.stdout).toMatch(/^status:\s+rolled_back$/m);
    expect(human.stdout).toMatch(/^\s*\d+\s+\S+\s+provision\s+undone\s+target removed/m);
  }, budget(2 * QUIET_MS.migration + 6 * QUIET_MS.binaryRun));
});
