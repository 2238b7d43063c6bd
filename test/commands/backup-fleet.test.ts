import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { availableParallelism } from "node:os";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { budget, QUIET_MS } from "../helpers/budget.js";
import { makeHome, runCli } from "../helpers/cli.js";
import { hostDir, instances, migrateWorld, provision, type MigrateWorld } from "../migrate/world.js";

/** Backups as a fleet operation against the sandbox: backup --all with a failing host, list, prune, restore --from latest. */
let w: MigrateWorld;
beforeAll(async () => {
  w = await migrateWorld({ addressBase: "127.151", seedBytes: 32 * 1024, writeEveryMs: 1000 });
});
afterAll(async () => {
  await w?.cleanup();
});

/** 12 users by default (AUTOMNA_BACKUP_USERS=30 for the full count; bench/failover.mjs backs up 100). */
const USERS = Array.from({ length: Number(process.env.AUTOMNA_BACKUP_USERS ?? 12) }, (_, i) => `bk-${String(i).padStart(2, "0")}`);
const BROKEN = "bk-07";

interface ListedBackup { id: string; user: string; time: string; size: number; checksum: string; provider: string; verifiedAt: string | null }

async function listed(...users: string[]): Promise<ListedBackup[]> {
  const res = await runCli(["backup", "list", ...users, "-o", "json"], { env: w.env });
  expect(res.code, res.stderr).toBe(0);
  return JSON.parse(res.stdout) as ListedBackup[];
}

describe("backup --all", () => {
  it("on a fleet with nobody live is a quiet no-op (the nightly cron line), where exec --all is bad input", async () => {
    const home = makeHome();
    try {
      const none = await runCli(["backup", "--all"], { env: home.env });
      expect([none.code, none.stderr.trim()]).toEqual([0, "no user has a live instance: nothing to back up"]);
      const exec = await runCli(["exec", "--all", "--", "true"], { env: home.env });
      expect([exec.code, exec.stderr.split("\n")[0]]).toEqual([2, "Error: there are no users with a live instance; nothing to do"]);
    } finally {
      home.cleanup();
    }
  });

  it(`backs up ${USERS.length} users at once, each verified; one failing host makes it exit 3 and leaves nothing of its own`, async () => {
    await provision(w, "hetzner", USERS);
    // The broken host's tar fails (first on its PATH): its backup fails at once, its agent serves on.
    const [broken] = await instances(w, BROKEN);
    writeFileSync(join(hostDir(w, broken!), ".host", "bin", "tar"), "#!/bin/sh\necho 'tar: simulated disk failure' >&2\nexit 2\n", { mode: 0o755 });

    const res = await runCli(["backup", "--all", "--concurrency", "8", "--json"], { env: { ...w.env, CI: "1" } });
    expect(res.code, res.stderr.slice(-2000)).toBe(3);
    const doc = JSON.parse(res.stdout) as { results: { user: string; result: string; backup: { backupId: string; verifiedAt: string } | null }[]; summary: { verified: number; failed: number } };
    expect(doc.summary).toEqual({ verified: USERS.length - 1, failed: 1 });
    expect(doc.results.filter((r) => r.result === "failed").map((r) => r.user)).toEqual([BROKEN]);
    // With --json the board prints only failures, one line each.
    expect(res.stderr.trim().split("\n").filter((l) => l.startsWith(`${BROKEN}: `))).toHaveLength(1);

    const all = await listed();
    expect(all.map((b) => b.user).sort()).toEqual(USERS.filter((u) => u !== BROKEN));
    for (const b of all) {
      expect(b).toMatchObject({ provider: "hetzner", verifiedAt: expect.any(String), checksum: expect.stringMatching(/^[0-9a-f]{64}$/) });
      expect(b.size).toBeGreaterThan(0);
      expect(doc.results.find((r) => r.user === b.user)!.backup!.backupId).toBe(b.id);
    }
    const csv = await runCli(["backup", "list", "bk-01", "-o", "csv"], { env: w.env });
    expect(csv.stdout.split(/\r?\n/)[0]).toBe("id,user,time,size,checksum,provider,verified,env");
  }, budget(QUIET_MS.test + (USERS.length * QUIET_MS.migration) / 2 / availableParallelism()));

  it("restores the newest verified backup with --from latest, and refuses what is not one", async () => {
    const [newest] = (await listed("bk-02")).slice(-1);
    const res = await runCli(["restore", "bk-02", "--from", "latest", "--yes", "--json"], { env: w.env });
    expect(res.code, res.stderr).toBe(0);
    expect(JSON.parse(res.stdout)).toMatchObject({ user: "bk-02", backupId: newest!.id });
    const none = await runCli(["restore", BROKEN, "--from", "latest", "--yes"], { env: w.env });
    expect(none.code).toBe(2);
    expect(none.stderr).toContain(`${BROKEN} has no verified backup`);
    const bad = await runCli(["restore", "bk-02", "--from", "yesterday", "--yes"], { env: w.env });
    expect(bad.code).toBe(2);
    expect(bad.stderr).toContain('"yesterday" is not a backup id (bk_...) or "latest"');
  });

  it("prunes what the rules do not keep: a dry run first, then after asking", async () => {
    for (let i = 0; i < 2; i++) expect((await runCli(["backup", "bk-01", "--json"], { env: w.env })).code).toBe(0);
    const three = await listed("bk-01");
    expect(three).toHaveLength(3);

    const usage = await runCli(["backup", "prune", "--yes"], { env: w.env });
    expect(usage.code).toBe(2);
    expect(usage.stderr).toContain("--keep-last N and/or --keep-within DURATION");

    // Everything is younger than a week: nothing goes.
    const young = await runCli(["backup", "prune", "--keep-last", "1", "--keep-within", "7d", "--yes", "--json"], { env: w.env });
    expect(JSON.parse(young.stdout)).toMatchObject({ removed: [] });

    const dry = await runCli(["backup", "prune", "--keep-last", "2", "--dry-run", "--json"], { env: w.env });
    expect(dry.code).toBe(0);
    expect(JSON.parse(dry.stdout)).toMatchObject({ dryRun: true, removed: [{ id: three[0]!.id, user: "bk-01" }] });
    expect(await listed("bk-01")).toHaveLength(3);

    const declined = await runCli(["backup", "prune", "--keep-last", "2"], { env: w.env, tty: true, answers: { "Delete these 1 backups": false } });
    expect(declined.code).toBe(130);
    expect(await listed("bk-01")).toHaveLength(3);

    const pruned = await runCli(["backup", "prune", "--keep-last", "2", "--yes"], { env: w.env });
    expect(pruned.code, pruned.stderr).toBe(0);
    expect(pruned.stderr).toContain("deleted 1 backups");
    expect((await listed("bk-01")).map((b) => b.id)).toEqual(three.slice(1).map((b) => b.id));
    // Every other user keeps its one (newest verified) backup.
    expect(await listed()).toHaveLength(USERS.length - 1 + 1);
  });
});
