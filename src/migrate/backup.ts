import { AutomnaError, CancelledError, NotFoundError, OutputClosedError, UsageError } from "../lib/errors.js";
import { newId } from "../lib/ids.js";
import { abortUploads } from "../lib/s3-multipart.js";
import { withLease } from "../state/lease.js";
import type { Provider } from "../providers/types.js";
import type { Instance } from "../state/types.js";
import { BACKUP_ID, backupKeys, manifestHeader, sealedEnvOf } from "./backup-catalog.js";
import { resumableBackup } from "./backup-resume.js";
import { cleanupWork, runScript, setAgent, waitHealthy, type HostDeps } from "./host.js";
import { standDownExec } from "./interrupt.js";
import { manifestDifferences, parseManifest } from "./manifest.js";
import { parseReport, reportNumber, reportSha } from "./report.js";
import { backupArchiveScript, backupRestoreScript, curlConfig } from "./scripts.js";
import { applyBackupEnv, loadBackupEnv, storeBackupEnv } from "./backup-env.js";
import { verifyStoredArchive } from "./backup-verify.js";
import { presign, sendArchive } from "./transfer.js";
import type { EngineDeps } from "./types.js";

/**
 * Backups of a user's /data: the same path as a migration's copy (tar | sha256 on the host in one
 * pass, presigned PUT, or parts past storage.multipartThreshold; presigned GET, verify, extract),
 * stored as `backups/<user>/<id>.tar` with a manifest object `backups/<user>/<id>.manifest`
 * beside it: a header (`# key: value` lines with the archive's sha256 and size) and the per-file
 * manifest of what the archive holds. The stored archive is read back and its sha256 matched
 * (backup-verify.ts), and the agent's environment sealed beside it as `<id>.env` (backup-env.ts),
 * before the manifest is written: a backup with a manifest is a verified one.
 *
 * The agent is frozen while the archive and manifest are taken (one remote command; seconds for a
 * small /data) and started again before the upload, so the archive is consistent and matches its
 * manifest exactly.
 */

export interface BackupResult {
  user: string;
  backupId: string;
  provider: string;
  key: string;
  manifestKey: string;
  sha256: string;
  bytes: number;
  files: number;
  dataBytes: number;
  /** How long the agent was stopped, ms. */
  frozenMs: number;
  createdAt: string;
  /** When the stored archive was read back and matched its sha256 (it counts from then on). */
  verifiedAt: string;
  /** The sealed copy of the agent's environment beside the archive: its names (never values), blob sha256, fleet key. */
  env: { names: string[]; sha256: string; key: string };
}

export interface RestoreResult {
  user: string;
  backupId: string;
  provider: string;
  files: number;
  dataBytes: number;
  /** How long the agent was stopped, ms. */
  downtimeMs: number;
  /** The names of the variables the backup's environment set (never values). */
  envNames: string[];
  /** The warning when the agent came back without the backup's environment (an older backup, a lost fleet key); null: it has it. */
  envMissing: string | null;
}

export type BackupDeps = Omit<EngineDeps, "dns" | "crash" | "emit"> & { step(text: string): void };

export { backupKeys } from "./backup-catalog.js";

async function liveInstance(deps: BackupDeps, user: string): Promise<Instance> {
  const row = await deps.state.getInstance(user, "live");
  if (!row) throw new NotFoundError(`${user} has no live instance`, { hint: "automna list shows the fleet" });
  return row;
}

/**
 * Where a backup or restore stands, so an interrupted one (Ctrl-C, SIGTERM, a closed pipe) says
 * what it was doing, whether the agent serves, and the next command, instead of "cancelled".
 */
class Progress {
  at = "starting";
  /** Whether the agent is stopped by this run right now. */
  stopped = false;
  constructor(private readonly deps: BackupDeps) {}
  step(text: string): void {
    this.at = text;
    this.deps.step(text);
  }
  /** Starts the agent again, even after the Ctrl-C that stopped the run. */
  async start(provider: Provider, instance: Instance): Promise<void> {
    this.step("starting the agent");
    await setAgent(standDownExec(this.deps), provider, instance, true);
    this.stopped = false;
  }
  interrupted(what: string, user: string, error: unknown, next: string): unknown {
    if (!this.deps.signal.aborted) return error;
    const why = this.deps.signal.reason instanceof OutputClosedError ? "the output pipe closed" : "Ctrl-C or SIGTERM";
    const serving = this.stopped ? `${user}'s agent is stopped and could not be started again: ${(error as Error).message.split("\n")[0]}` : `${user}'s agent serves`;
    return new CancelledError(`${user}: ${what} interrupted while ${this.at} (${why}); ${serving}`, { code: "interrupted", hint: `next: ${next}` });
  }
}

export async function backupUser(deps: BackupDeps, user: string): Promise<BackupResult> {
  const id = newId("bk", deps.now());
  const p = new Progress(deps);
  try {
    return await backupUnderLease(deps, user, id, p);
  } catch (error) {
    throw p.interrupted(`backup ${id}`, user, error, `automna backup ${user} (nothing of ${id} was kept)`);
  }
}

async function backupUnderLease(deps: BackupDeps, user: string, newId: string, p: Progress): Promise<BackupResult> {
  return withLease(deps.state, user, { who: deps.who, operation: `backup ${newId}` }, async (lease) => {
    const instance = await liveInstance(deps, user);
    const provider = await deps.registry.forInstance(instance, { lease });
    // A run killed while sending its archive in parts: that backup goes on, with the parts S3 lacks.
    const resumed = await resumableBackup(deps, user, instance);
    const id = resumed?.id ?? newId;
    const keys = backupKeys(user, id);
    let report;
    let frozenMs = 0;
    if (resumed) {
      p.step(`resuming backup ${id}: sending the parts not stored yet`);
      report = resumed.report;
    } else {
      p.step("freezing the agent");
      const frozen = Date.now();
      try {
        p.stopped = true;
        await setAgent(deps, provider, instance, false);
        p.step("archiving /data");
        report = parseReport(await runScript(deps, instance, "archiving /data (backup)", backupArchiveScript(id)));
      } finally {
        await p.start(provider, instance);
      }
      frozenMs = Date.now() - frozen;
      await waitHealthy(deps, instance, deps.health, provider);
    }
    const archive = { sha256: reportSha(report, "sha256", "backup"), bytes: reportNumber(report, "bytes", "backup") };
    const m = parseManifest((report.sections.manifest ?? []).join("\n"));
    p.step("uploading");
    await sendArchive(deps, instance, id, "backup", keys.archive, archive, resumed?.savedParts).catch(async (error: unknown) => {
      // Parts already stored cost money until aborted (gc aborts what this leaves, too).
      await abortUploads(deps.objects, keys.archive).catch(() => undefined);
      throw error;
    });
    const createdAt = deps.now().toISOString();
    p.step("verifying the stored archive (reading it back)");
    // Nothing of a backup that does not verify is kept: without its manifest it would not count anyway.
    const discard = async (error: unknown): Promise<never> => {
      await Promise.all([keys.archive, keys.env].map((k) => deps.objects.deleteObject(k).catch(() => undefined)));
      throw error;
    };
    const verifiedAt = await verifyStoredArchive(deps, keys.archive, archive).catch(discard);
    p.step("sealing the agent's environment");
    const env = await storeBackupEnv(deps, provider, instance, user, id).catch(discard);
    const header = [
      `# automna backup ${id}`, `# user: ${user}`, `# provider: ${instance.provider}`, `# created: ${createdAt}`, `# sha256: ${archive.sha256}`, `# bytes: ${archive.bytes}`, `# verified: ${verifiedAt}`,
      `# env: ${env.sha256}`, `# envkey: ${env.keyId}`, `# envnames: ${env.names.length}`,
    ];
    const body = [...header, ...[...m.entries.values()].map((e) => `${e.type} ${e.size ?? "-"} ${e.sha256 ?? "-"} ${e.path}`)].join("\n") + "\n";
    await deps.objects.putObject(keys.manifest, body);
    await cleanupWork(deps, instance, id).catch(() => undefined);
    await deps.state.appendAudit({ who: deps.who, action: "backup", target: user, details: { backupId: id, key: keys.archive, sha256: archive.sha256, bytes: archive.bytes } }).catch(() => undefined);
    return { user, backupId: id, provider: instance.provider, key: keys.archive, manifestKey: keys.manifest, sha256: archive.sha256, bytes: archive.bytes, files: m.files, dataBytes: m.bytes, frozenMs, createdAt, verifiedAt, env: { names: env.names, sha256: env.sha256, key: env.keyId } };
  }, deps.leaseTtlMs);
}

export function parseBackupManifest(text: string): { sha256: string; bytes: number; manifestText: string; env: { sha256: string } | undefined } {
  const header = manifestHeader(text);
  const lines = text.split("\n").filter((line) => line && !line.startsWith("#"));
  const sha256 = header.get("sha256") ?? "";
  if (!/^[0-9a-f]{64}$/.test(sha256)) throw new AutomnaError("the backup's manifest has no archive sha256", { code: "bad_backup" });
  // Backups made before the size was in the header: any size (it only picks the hash program).
  const bytes = Number(header.get("bytes") ?? 0);
  // Backups made before the agent's environment was kept have no `# env:` line.
  const env = sealedEnvOf(header);
  return { sha256, bytes: Number.isSafeInteger(bytes) && bytes >= 0 ? bytes : 0, manifestText: lines.join("\n"), env: env ? { sha256: env } : undefined };
}

/**
 * Downloads a backup's archive onto an instance (its sha256 checked before anything is replaced),
 * extracts it over /data and checks the result file by file against the backup's manifest.
 */
export async function restoreBackupOnto(deps: HostDeps, instance: Instance, key: string, backupId: string, archive: { sha256: string; bytes: number }, want: ReturnType<typeof parseManifest>): Promise<void> {
  const out = await runScript(deps, instance, "restoring backup.tar", backupRestoreScript(backupId, archive.sha256, archive.bytes), curlConfig(presign(deps, "GET", key)));
  const have = parseManifest((parseReport(out).sections.manifest ?? []).join("\n"));
  if (have.digest !== want.digest) throw new AutomnaError(`restored /data does not match backup ${backupId}'s manifest (${manifestDifferences(want, have).join("; ")})`, { code: "verify_failed" });
}

/**
 * Replaces the user's /data with a backup: the archive is downloaded and its sha256 checked
 * BEFORE anything is deleted (a bad download leaves /data as it was), then extracted with the
 * agent stopped, the result checked file by file against the backup's manifest, and the agent
 * started and waited for.
 */
export async function restoreUser(deps: BackupDeps, user: string, backupId: string): Promise<RestoreResult> {
  if (!BACKUP_ID.test(backupId)) throw new UsageError(`"${backupId}" is not a backup id (bk_...)`, { hint: "automna backup USER prints one" });
  const p = new Progress(deps);
  try {
    return await restoreUnderLease(deps, user, backupId, p);
  } catch (error) {
    throw p.interrupted(`restore of ${backupId}`, user, error, `automna restore ${user} --from ${backupId} (downloads, checks and extracts it again)`);
  }
}

async function restoreUnderLease(deps: BackupDeps, user: string, backupId: string, p: Progress): Promise<RestoreResult> {
  return withLease(deps.state, user, { who: deps.who, operation: `restore ${backupId}` }, async (lease) => {
    const instance = await liveInstance(deps, user);
    const provider = await deps.registry.forInstance(instance, { lease });
    const keys = backupKeys(user, backupId);
    const text = await deps.objects.getText(keys.manifest);
    if (text === undefined) throw new NotFoundError(`no backup ${backupId} of ${user}`, { hint: `objects are under backups/${user}/ in the storage bucket` });
    const { sha256, bytes, manifestText, env: storedEnv } = parseBackupManifest(text);
    const want = parseManifest(manifestText);
    const env = await loadBackupEnv(deps, user, backupId, storedEnv);
    p.step("stopping the agent");
    let envNames: string[] | undefined;
    let envMissing: string | null = null;
    const stopped = Date.now();
    p.stopped = true;
    await setAgent(deps, provider, instance, false);
    try {
      p.step("downloading, verifying and extracting");
      await restoreBackupOnto(deps, instance, keys.archive, backupId, { sha256, bytes }, want);
      p.step("setting the backup's environment");
      // The command says it (envMissing), once.
      envNames = (await applyBackupEnv(deps, provider, instance, env, { port: deps.health.port, user, warn: (text) => void (envMissing = text) })).names;
    } finally {
      await p.start(provider, instance);
    }
    await waitHealthy(deps, instance, deps.health, provider);
    const downtimeMs = Date.now() - stopped;
    await cleanupWork(deps, instance, backupId).catch(() => undefined);
    await deps.state.appendAudit({ who: deps.who, action: "restore", target: user, details: { backupId, sha256 } }).catch(() => undefined);
    return { user, backupId, provider: instance.provider, files: want.files, dataBytes: want.bytes, downtimeMs, envNames: envNames ?? [], envMissing };
  }, deps.leaseTtlMs);
}
