import { availableParallelism } from "node:os";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { MIGRATE_STEPS } from "../../src/migrate/types.js";
import { budget, QUIET_MS } from "../helpers/budget.js";
import { runCli } from "../helpers/cli.js";
import { instances, migrateWorld, provision, type MigrateWorld } from "./world.js";

/** The sandbox enforces every provider's documented budget (refilled 20x faster, and automna told so). */
const SCALE = 20;
let w: MigrateWorld;
beforeAll(async () => {
  w = await migrateWorld({ addressBase: "127.84", rateLimitScale: SCALE, seedBytes: 128 * 1024, writeEveryMs: 1000 });
});
afterAll(async () => {
  await w?.cleanup();
});

const USERS = 30;
const CONCURRENCY = 8;

describe("migrate --all", () => {
  // The work: provisioning, then USERS migrations sharing the machine's cores.
  it(`moves ${USERS} Fly users to Hetzner at concurrency ${CONCURRENCY} within the providers' rate limits, one CI line per user per step`, async () => {
    const users = Array.from({ length: USERS }, (_, i) => `bulk-${String(i).padStart(2, "0")}`);
    await provision(w, "fly", users);
    const res = await runCli(["migrate", "--all", "--from", "fly", "--to", "hetzner", "--concurrency", String(CONCURRENCY), "--yes"], { env: { ...w.env, CI: "1" } });
    expect(res.code, res.stderr.slice(-2000)).toBe(0);
    // The summary table: a header and one row per user, all migrated.
    const rows = res.stdout.trim().split("\n");
    expect(rows[0]).toMatch(/^USER\s+RESULT\s+FROM\s+TO\s+OP\s+DOWNTIME\s+DATA\s+ERROR$/);
    expect(rows.slice(1).map((r) => r.split(/\s+/).slice(0, 4).join(" "))).toEqual(users.map((u) => `${u} migrated fly hetzner`));
    expect(res.stderr).toContain(`${USERS} migrated, 0 rolled back, 0 failed`);
    for (const user of users) {
      const lines = res.stderr.split("\n").filter((l) => l.startsWith(`${user}: `));
      expect(lines.map((l) => l.split(": ")[1]), user).toEqual([...MIGRATE_STEPS]);
      expect(res.stderr).toContain(`✓ ${user}: migrated fly -> hetzner`);
    }
    const rowsAfter = await instances(w, users[0]!);
    expect(rowsAfter.map((r) => [r.provider, r.role]).sort()).toEqual([["fly", "retired"], ["hetzner", "live"]]);
    expect(w.sb.cloudflare.records().filter((r) => r.name.startsWith("bulk-")).map((r) => r.type)).toEqual(users.map(() => "A"));
  }, budget(QUIET_MS.test + (USERS * QUIET_MS.migration) / availableParallelism()));
});
