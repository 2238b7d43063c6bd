/**
 * Backups keep the agent's environment (sealed with the profile's fleet key, beside the archive),
 * and `restore` and `failover` put it back: a VM's env file, Fly's secrets. A backup made before
 * environments were kept still fails over, with one warning. The secret's value appears in no
 * output, --debug dump, state file, journal, file of the profile, or object in the bucket.
 * Verification reads the stored archive back: a changed object does not verify. A failover killed
 * mid-way shows in `failover status` and can be abandoned without leaving an orphan.
 */
import { createHash } from "node:crypto";
import { existsSync, readdirSync, readFileSync, statSync } from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { Config } from "../../src/lib/config.js";
import { StorageClient } from "../../src/lib/s3-objects.js";
import { storageSettingsFromConfig } from "../../src/lib/s3-presign.js";
import { verifyStoredArchive } from "../../src/migrate/backup-verify.js";
import { automna } from "../helpers/bin.js";
import { budget, QUIET_MS } from "../helpers/budget.js";
import { runCli } from "../helpers/cli.js";
import { hostDir, instances, migrateWorld, PLACES, type MigrateWorld } from "../migrate/world.js";

const API_KEY = "sk-failover-env-0123456789abcdef";
const VM = "fe-vm";
const OLD = "fe-old";
const KILLED = "fe-killed";

let w: MigrateWorld;
let objects: StorageClient;
beforeAll(async () => {
  w = await migrateWorld({ addressBase: "127.158", seedBytes: 8 * 1024, writeEveryMs: 600_000 });
  objects = new StorageClient(storageSettingsFromConfig(await Config.open({ path: join(w.home.dir, "none.json"), env: w.env })));
});
afterAll(async () => {
  await objects?.close();
  await w?.cleanup();
});

/** Every file under `dir`, recursively. */
function files(dir: string): string[] {
  if (!existsSync(dir)) return [];
  return readdirSync(dir, { withFileTypes: true, recursive: true }).filter((e) => e.isFile()).map((e) => join(e.parentPath, e.name));
}

async function flySecrets(app: string): Promise<Record<string, string>> {
  const res = await fetch(`${w.env.AUTOMNA_FLY_URL}/v1/apps/${app}/secrets?show_secrets=true`, { headers: { authorization: `Bearer ${w.env.FLY_API_TOKEN}` } });
  const body = (await res.json()) as { secrets: { name: string; value: string }[] };
  return Object.fromEntries(body.secrets.map((s) => [s.name, s.value]));
}

const live = async (user: string) => (await instances(w, user)).find((r) => r.role === "live")!;
const envFile = async (user: string) => join(hostDir(w, await live(user)), ".host", "agent.env");

describe("backups keep the agent's environment", () => {
  it("restore and failover put variables and secrets back; an older backup fails over without them, with a warning; the value is nowhere else", async () => {
    const outputs: string[] = [];
    const cli = async (args: string[], extra: Record<string, string> = {}) => {
      const res = await runCli(args, { env: { ...w.env, ...extra } });
      outputs.push(res.stdout, res.stderr);
      return res;
    };
    for (const user of [VM, OLD]) {
      const made = await cli(["provision", user, "--provider", "hetzner", "--region", PLACES.hetzner[0], "--size", PLACES.hetzner[1], "--env", "PLAIN=visible", "--secret", "API_KEY"], { API_KEY });
      expect(made.code, made.stderr).toBe(0);
    }
    await w.sb.settled();

    const backup = await cli(["backup", VM, OLD, "--json", "--debug"]);
    expect(backup.code, backup.stderr.slice(-2000)).toBe(0);
    const results = backup.json<{ results: { user: string; backup: { backupId: string; env: { names: string[]; key: string } } }[] }>().results;
    expect(results.map((r) => r.backup.env.names)).toEqual([["API_KEY", "PLAIN"], ["API_KEY", "PLAIN"]]);
    // The fleet key: made on first use, private, in the profile's data directory.
    const keyFile = join(w.home.dir, "data", "automna", "fleet.key");
    expect(statSync(keyFile).mode & 0o777).toBe(0o600);
    const list = await cli(["backup", "list", "-o", "json"]);
    expect((JSON.parse(list.stdout) as { env: string | null }[]).every((b) => /^[0-9a-f]{64}$/.test(b.env ?? ""))).toBe(true);

    // restore on a VM: the env file written again (0600) and the container re-created from it.
    expect((await cli(["env", "unset", VM, "--name", "API_KEY"])).code).toBe(0);
    expect(readFileSync(await envFile(VM), "utf8")).not.toContain("API_KEY=");
    const restored = await cli(["restore", VM, "--from", "latest", "--yes", "--json", "--debug"]);
    expect(restored.code, restored.stderr).toBe(0);
    expect(restored.json<{ envNames: string[]; envMissing: string | null }>()).toMatchObject({ envNames: ["API_KEY", "PLAIN"], envMissing: null });
    expect(readFileSync(await envFile(VM), "utf8").split("\n").filter(Boolean).sort()).toEqual([`API_KEY=${API_KEY}`, "PLAIN=visible"]);
    expect(statSync(await envFile(VM)).mode & 0o777).toBe(0o600);

    // OLD's backup as one made before environments were kept: no `# env:` lines, no blob.
    const oldId = results.find((r) => r.user === OLD)!.backup.backupId;
    const manifestKey = `backups/${OLD}/${oldId}.manifest`;
    const manifest = (await objects.getText(manifestKey))!;
    await objects.putObject(manifestKey, manifest.split("\n").filter((l) => !l.startsWith("# env")).join("\n"));
    await objects.deleteObject(`backups/${OLD}/${oldId}.env`);

    expect((await fetch(`${w.sb.urls.admin}/outage/hetzner`, { method: "POST", body: "{}" })).status).toBe(200);
    const failover = await cli(["failover", "--provider", "hetzner", "--to", "fly", "--yes", "--json", "--debug"]);
    expect(failover.code, failover.stderr.slice(-3000)).toBe(0);
    expect(await flySecrets(`automna-${VM}`)).toEqual({ PLAIN: "visible", API_KEY });
    expect(await flySecrets(`automna-${OLD}`)).toEqual({});
    const warnings = failover.stderr.split("\n").filter((l) => l.includes("comes back without its environment"));
    expect(warnings).toEqual([expect.stringMatching(new RegExp(`^(warning: )?${OLD}: the agent comes back without its environment: backup ${oldId} was made before backups kept the agent's environment; set it with automna env set ${OLD}$`, "i"))]);
    const ops = failover.json<{ results: { op: string }[] }>().results.map((r) => r.op);
    for (const op of ops) outputs.push((await cli(["migrate", "status", op, "--json"])).stdout);
    expect((await fetch(`${w.sb.urls.admin}/outage/hetzner`, { method: "DELETE" })).status).toBe(200);

    // Nowhere but where the agent reads it: no output, debug line, journal, state or profile file, bucket object.
    for (const text of outputs) expect(text.includes(API_KEY)).toBe(false);
    const stored = [...files(w.home.dir), ...files(join(w.sb.dir, "s3"))];
    const blob = (await objects.getText(`backups/${VM}/${results[0]!.backup.backupId}.env`))!;
    expect(JSON.parse(blob)).toMatchObject({ alg: "AES-256-GCM", key: results[0]!.backup.env.key });
    expect(stored.filter((f) => f.includes("/s3/")).length).toBeGreaterThan(4);
    for (const f of stored) expect(readFileSync(f).toString("latin1").includes(API_KEY), f).toBe(false);
  }, budget(QUIET_MS.test + 4 * QUIET_MS.binaryRun + 2 * QUIET_MS.migration));

  it("a stored archive verifies only when it reads back with the sha256 the host made", async () => {
    const body = Buffer.from("an archive's bytes\n");
    const sha256 = createHash("sha256").update(body).digest("hex");
    await objects.putObject("backups/probe/bk_probe.tar", body);
    const deps = { objects, now: () => new Date() };
    await expect(verifyStoredArchive(deps, "backups/probe/bk_probe.tar", { sha256, bytes: body.length })).resolves.toMatch(/^\d{4}-/);
    // Same size, one byte changed: a size check alone would pass it.
    await objects.putObject("backups/probe/bk_probe.tar", Buffer.from("an archive's bytez\n"));
    await expect(verifyStoredArchive(deps, "backups/probe/bk_probe.tar", { sha256, bytes: body.length })).rejects.toThrow(/reads back with sha256 .*changed in transfer or in the bucket/);
    await expect(verifyStoredArchive(deps, "backups/probe/gone.tar", { sha256, bytes: body.length })).rejects.toThrow(/is not in the bucket/);
  });
});

describe("failover status and abandon", () => {
  it("a failover SIGKILLed after its restore shows as interrupted at that step; abandoning it destroys the half-made target and leaves the user where it was", async () => {
    const [region, size] = PLACES.digitalocean;
    expect((await runCli(["provision", KILLED, "--provider", "digitalocean", "--region", region, "--size", size], { env: w.env })).code).toBe(0);
    await w.sb.settled();
    expect((await runCli(["backup", KILLED], { env: w.env })).code).toBe(0);
    const source = await live(KILLED);
    expect((await fetch(`${w.sb.urls.admin}/outage/digitalocean`, { method: "POST", body: "{}" })).status).toBe(200);
    try {
      const killed = await automna(["failover", KILLED, "--to", "fly", "--yes"], { ...w.env, AUTOMNA_CRASH_AT: "restore:after" }, { quietMs: QUIET_MS.binaryRun + QUIET_MS.migration });
      expect(killed.signal).toBe("SIGKILL");
      const target = (await instances(w, KILLED)).find((r) => r.provider === "fly")!;
      expect(target.role).toBe("target");

      const status = await runCli(["failover", "status", "-o", "json"], { env: w.env });
      expect(status.code, status.stderr).toBe(0);
      const row = (JSON.parse(status.stdout) as { op: string; user: string; status: string; step: string; next: string }[]).find((r) => r.user === KILLED)!;
      expect(row).toMatchObject({ status: "interrupted", step: "restore", next: `automna failover ${KILLED} --to fly (resumes it), or automna failover abandon ${row.op}` });
      const detail = await runCli(["failover", "status", row.op, "--json"], { env: w.env });
      expect(detail.json<{ journal: { step: string; phase: string }[] }>().journal.filter((e) => e.phase === "done").map((e) => e.step)).toEqual(["lock", "fence-source", "provision", "hold-target"]);
      expect((await runCli(["migrate", "status", row.op], { env: w.env })).stderr).toContain(`no migration ${row.op}`);

      const abandoned = await runCli(["failover", "abandon", row.op, "--yes", "--json"], { env: w.env });
      expect(abandoned.code, abandoned.stderr).toBe(0);
      expect(abandoned.json<{ status: string; removed: { provider: string } }>()).toMatchObject({ status: "abandoned", removed: { provider: "fly", resources: target.resources } });
      // No orphan: the Fly app is gone at the provider and from state; the user's live row is the old instance.
      const app = await fetch(`${w.env.AUTOMNA_FLY_URL}/v1/apps/${target.resources.app}`, { headers: { authorization: `Bearer ${w.env.FLY_API_TOKEN}` } });
      expect(app.status).toBe(404);
      expect((await instances(w, KILLED)).map((r) => [r.provider, r.role, r.resources])).toEqual([["digitalocean", "live", source.resources]]);
      const again = await runCli(["failover", "abandon", row.op, "--yes"], { env: w.env });
      expect(again.code).toBe(0);
      const after = await runCli(["failover", "status", row.op, "--json"], { env: w.env });
      expect(after.json<{ status: string; next: string | null }>()).toMatchObject({ status: "abandoned", next: null });
    } finally {
      await fetch(`${w.sb.urls.admin}/outage/digitalocean`, { method: "DELETE" });
    }
  }, budget(QUIET_MS.test + 3 * QUIET_MS.binaryRun + QUIET_MS.migration));
});
