import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { budget, QUIET_MS } from "../helpers/budget.js";
import { runCli } from "../helpers/cli.js";
import { hostDir, instances, migrateWorld, provision, seed, tree, type MigrateWorld } from "./world.js";

let w: MigrateWorld;
beforeAll(async () => {
  w = await migrateWorld({ addressBase: "127.82" });
  await provision(w, "hetzner", ["corrupt-1", "sick-1", "dns-1", "race-1"]);
});
afterAll(async () => {
  await w?.cleanup();
});


async function sourceServes(user: string): Promise<boolean> {
  const status = await runCli(["status", user, "--json"], { env: w.env });
  return status.json<{ instance: { provider: string }; health: { ok: boolean } }>().health.ok;
}

describe("migration faults in the sandbox", () => {
  it("a corrupted transfer is detected by the archive checksum: no switch, the source serves, the target is gone", async () => {
    await seed(w, "corrupt-1", 2);
    w.sb.s3.faults.corruptNextDownloads(1);
    const res = await runCli(["migrate", "corrupt-1", "--from", "hetzner", "--to", "digitalocean", "--yes", "-o", "json"], { env: w.env });
    expect(res.code).toBe(1);
    expect(res.stderr).toMatch(/corrupt-1: migration rolled back: .*corrupted in transfer/);
    const rows = await instances(w, "corrupt-1");
    expect(rows.map((r) => [r.provider, r.role])).toEqual([["hetzner", "live"]]);
    expect(await sourceServes("corrupt-1")).toBe(true);
    expect(w.sb.cloudflare.records().some((r) => r.name.startsWith("corrupt-1."))).toBe(false);
    const droplets = (await (await fetch(`${w.sb.urls.digitalocean}/v2/droplets?per_page=200`, { headers: { authorization: `Bearer ${w.sb.token}` } })).json()) as { droplets: { name: string }[] };
    expect(droplets.droplets.filter((d) => d.name === "automna-corrupt-1")).toEqual([]);
    const list = await runCli(["migrate", "status", "-o", "json"], { env: w.env });
    expect(list.json<{ user: string; status: string; step: string }[]>().find((o) => o.user === "corrupt-1")).toMatchObject({ status: "rolled_back", step: "rollback" });
  }, budget(QUIET_MS.test + QUIET_MS.migration));

  it("some users moved and some rolled back: the summary table says which and why, exit 3", async () => {
    await provision(w, "hetzner", ["part-1", "part-2"]);
    w.sb.s3.faults.corruptNextDownloads(1);
    const res = await runCli(["migrate", "part-1", "part-2", "--from", "hetzner", "--to", "digitalocean", "--concurrency", "1", "--yes"], { env: w.env });
    expect(res.code).toBe(3);
    const lines = res.stdout.trim().split("\n");
    expect(lines[1]).toMatch(/^part-1\s+rolled_back\s+hetzner\s+digitalocean\s+op_\w+\s+-\s+[\d.]+ MiB\s+restoring warm.tar on digitalocean instance of part-1 failed \(exit 65\): .*corrupted in transfer$/);
    expect(lines[2]).toMatch(/^part-2\s+migrated\s+hetzner\s+digitalocean\s+op_\w+\s+[\d.]+s\s+[\d.]+ MiB\s+-$/);
    expect(res.stderr).toContain("1 migrated, 1 rolled back, 0 failed");
  }, budget(QUIET_MS.test + 2 * QUIET_MS.migration));

  it("a target that fails its health checks is rolled back: the source agent serves again", async () => {
    const res = await runCli(["migrate", "sick-1", "--from", "hetzner", "--to", "digitalocean", "--yes", "--json"], { env: { ...w.env, AUTOMNA_HEALTH_PATH: "/not-served", AUTOMNA_HEALTH_TIMEOUT: "1s" } });
    expect(res.code).toBe(1);
    expect(res.json<{ error: { code: string; message: string } }>().error).toMatchObject({ code: "rolled_back" });
    expect(res.stderr).toMatch(/did not pass 3 consecutive health checks/);
    expect((await instances(w, "sick-1")).map((r) => [r.provider, r.role])).toEqual([["hetzner", "live"]]);
    expect(await sourceServes("sick-1")).toBe(true);
    const ops = (await runCli(["migrate", "status", "-o", "json"], { env: w.env })).json<{ op: string; user: string }[]>();
    const detail = await runCli(["migrate", "status", ops.find((o) => o.user === "sick-1")!.op, "--json"], { env: w.env });
    const phases = detail.json<{ journal: { step: string; phase: string }[] }>().journal.filter((e) => e.phase === "undone" || e.phase === "failed").map((e) => `${e.step}:${e.phase}`);
    expect(phases).toEqual(["start-target:failed", "freeze:undone", "provision:undone", "warm-archive:undone"]);
  }, budget(QUIET_MS.test + QUIET_MS.migration));

  it("DNS API errors are retried, and afterwards DNS and state agree", async () => {
    w.sb.cloudflare.faults.failNext(3, { status: 502 });
    const res = await runCli(["migrate", "dns-1", "--from", "hetzner", "--to", "digitalocean", "--yes", "--json"], { env: w.env });
    expect(res.code, res.stderr).toBe(0);
    const live = (await instances(w, "dns-1")).find((r) => r.role === "live")!;
    expect(live.provider).toBe("digitalocean");
    expect(w.sb.cloudflare.records().filter((r) => r.name === "dns-1.agents.example.test").map((r) => [r.type, r.content])).toEqual([["A", live.addresses.ipv4]]);
    expect(w.sb.cloudflare.requests.filter((r) => r.status === 502)).toHaveLength(3);
  }, budget(QUIET_MS.test + QUIET_MS.migration));

  it("two migrations of one user at once: one wins, the other exits 4 naming the holder and its operation", async () => {
    const args = ["migrate", "race-1", "--from", "hetzner", "--to", "digitalocean", "--yes"];
    const [a, b] = await Promise.all([runCli(args, { env: w.env }), runCli(args, { env: w.env })]);
    const codes = [a.code, b.code].sort();
    expect(codes).toEqual([0, 4]);
    const loser = a.code === 4 ? a : b;
    const ops = (await runCli(["migrate", "status", "-o", "json"], { env: w.env })).json<{ op: string; user: string; status: string }[]>().filter((o) => o.user === "race-1");
    expect(ops).toHaveLength(1);
    expect(ops[0]!.status).toBe("succeeded");
    expect(loser.stderr).toContain(`race-1 is locked by tester@`);
    expect(loser.stderr).toContain(`(${ops[0]!.op})`);
    expect((await instances(w, "race-1")).map((r) => [r.provider, r.role]).sort()).toEqual([["digitalocean", "live"], ["hetzner", "retired"]]);
    expect(hostDir(w, (await instances(w, "race-1"))[0]!)).toContain("hosts");
  }, budget(QUIET_MS.test + QUIET_MS.migration));
});

describe("dry run, backup and restore", () => {
  it("--dry-run shows each target, the monthly price before and after, the data size and the saving; it changes nothing", async () => {
    await provision(w, "fly", ["plan-1"]);
    await seed(w, "plan-1", 1);
    const before = w.sb.requests().length;
    const res = await runCli(["migrate", "plan-1", "--from", "fly", "--to", "hetzner", "--dry-run", "--json"], { env: w.env });
    expect(res.code, res.stderr).toBe(0);
    const plan = res.json<{ dryRun: boolean; users: { user: string; to: string; region: string; size: string; monthlyBefore: number; currencyBefore: string; monthlyAfter: number; currencyAfter: string; dataBytes: number }[]; total: { before: number; after: number; saving: number; currency: string } }>();
    expect(plan.users).toHaveLength(1);
    const row = plan.users[0]!;
    expect(row).toMatchObject({ user: "plan-1", to: "hetzner", region: "fsn1", size: "cx22", currencyBefore: "USD", currencyAfter: "EUR" });
    expect(row.monthlyBefore).toBeGreaterThan(row.monthlyAfter);
    expect(row.dataBytes).toBeGreaterThan(1024 * 1024);
    expect(plan.total.currency).toBe("USD");
    expect(plan.total.saving).toBeCloseTo(plan.total.before - plan.total.after, 2);
    expect(plan.total.saving).toBeGreaterThan(0);
    // Nothing was created or changed at any provider (the only POST is the exec that ran du).
    expect(w.sb.requests().slice(before).filter((q) => q.method !== "GET").map((q) => q.path)).toEqual([expect.stringMatching(/\/machines\/[0-9a-f]+\/exec$/)]);
    const table = await runCli(["migrate", "plan-1", "--from", "fly", "--to", "hetzner", "--dry-run"], { env: w.env });
    expect(table.stdout).toMatch(/^USER\s+FROM\s+TO\s+MONTHLY NOW\s+MONTHLY AFTER\s+DATA$/m);
    expect(table.stdout).toMatch(/^1 user, [\d.]+ MiB of data: [\d.]+ -> [\d.]+ USD\/month, saving [\d.]+ USD\/month$/m);
  });

  it("backup archives /data with a manifest beside it; restore puts exactly that back, agent healthy", async () => {
    await provision(w, "hetzner", ["keep-1"]);
    await seed(w, "keep-1", 2);
    const made = await runCli(["backup", "keep-1", "--json"], { env: w.env });
    expect(made.code, made.stderr).toBe(0);
    const backup = made.json<{ backupId: string; key: string; manifestKey: string; sha256: string; files: number; frozenMs: number }>();
    expect(backup.key).toBe(`backups/keep-1/${backup.backupId}.tar`);
    expect(backup.manifestKey).toBe(`backups/keep-1/${backup.backupId}.manifest`);
    expect(w.sb.s3.requests.filter((q) => q.method === "PUT" && (q.key === backup.key || q.key === backup.manifestKey))).toHaveLength(2);
    const row = (await instances(w, "keep-1"))[0]!;
    const data = `${hostDir(w, row)}/data`;
    const kept = tree(data)["uploads/file 0.bin"];
    const broke = await runCli(["exec", "keep-1", "--", 'D="${AUTOMNA_DATA:-/data}"; rm "$D/uploads/file 0.bin"; echo new > "$D/uploads/after.bin"'], { env: w.env });
    expect(broke.code, broke.stderr).toBe(0);
    const restored = await runCli(["restore", "keep-1", "--from", backup.backupId, "--yes", "--json"], { env: w.env });
    expect(restored.code, restored.stderr).toBe(0);
    expect(restored.json()).toMatchObject({ user: "keep-1", backupId: backup.backupId, files: backup.files });
    const now = tree(data);
    expect(now["uploads/file 0.bin"]).toBe(kept);
    expect(now["uploads/after.bin"]).toBeUndefined();
    expect(await sourceServes("keep-1")).toBe(true);
    const missing = await runCli(["restore", "keep-1", "--from", "bk_0000000000nothere", "--yes"], { env: w.env });
    expect(missing.code).toBe(2);
    expect(missing.stderr).toContain("no backup bk_0000000000nothere of keep-1");
  }, budget(QUIET_MS.test + QUIET_MS.migration));
});
