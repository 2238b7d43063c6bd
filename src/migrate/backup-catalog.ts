import { AutomnaError, NotFoundError, UsageError } from "../lib/errors.js";
import { mapConcurrent } from "../lib/concurrency.js";
import type { StorageClient } from "../lib/s3-objects.js";

/**
 * What object storage holds of the backups: one `backups/<user>/<id>.manifest` per backup, whose
 * `# key: value` header names the archive's sha256, size, source provider, creation time and when
 * the stored archive was verified against it. A backup counts (for `restore --from latest`,
 * `failover`, `prune`'s keep rules) only when its manifest says it was verified.
 */
export interface BackupRecord {
  id: string;
  user: string;
  /** When it was taken (ISO). */
  time: string;
  /** Archive bytes. */
  size: number;
  /** The archive's sha256. */
  checksum: string;
  /** The provider the user ran on when it was taken. */
  provider: string;
  /** When the stored archive was checked against the manifest; null: never (it does not count). */
  verifiedAt: string | null;
  /**
   * sha256 of the sealed copy of the agent's environment stored beside the archive
   * (`backups/<user>/<id>.env`); null: the backup was made before environments were kept.
   */
  env: string | null;
}

export const BACKUP_ID = /^bk_[a-z0-9]+$/;

export function backupKeys(user: string, id: string): { archive: string; manifest: string; env: string } {
  return { archive: `backups/${user}/${id}.tar`, manifest: `backups/${user}/${id}.manifest`, env: `backups/${user}/${id}.env` };
}

/** The `# key: value` lines of a backup manifest. */
export function manifestHeader(text: string): Map<string, string> {
  const header = new Map<string, string>();
  for (const line of text.split("\n")) {
    const h = /^# ([a-z0-9]+): (.*)$/.exec(line);
    if (h) header.set(h[1]!, h[2]!);
  }
  return header;
}

/** The sha256 of the sealed environment a manifest names (`# env:`); null for a backup made before backups kept it. */
export function sealedEnvOf(header: Map<string, string>): string | null {
  const env = header.get("env") ?? "";
  return /^[0-9a-f]{64}$/.test(env) ? env : null;
}

function recordOf(user: string, id: string, text: string): BackupRecord {
  const h = manifestHeader(text);
  return {
    id, user, time: h.get("created") ?? "", size: Number(h.get("bytes") ?? 0), checksum: h.get("sha256") ?? "",
    provider: h.get("provider") ?? "", verifiedAt: h.get("verified") ?? null, env: sealedEnvOf(h),
  };
}

/** The manifests stored for `users` (every user when omitted): key, user and backup id each. */
async function manifestKeys(objects: StorageClient, users?: readonly string[]): Promise<{ key: string; user: string; id: string }[]> {
  const prefixes = users ? users.map((u) => `backups/${u}/`) : ["backups/"];
  const keys = (await mapConcurrent(prefixes, 8, (p) => objects.listObjects(p))).flat().map((o) => o.key);
  return keys.map((k) => /^backups\/([^/]+)\/(bk_[a-z0-9]+)\.manifest$/.exec(k)).filter((m): m is RegExpExecArray => m !== null).map((m) => ({ key: m[0], user: m[1]!, id: m[2]! }));
}

async function readRecord(objects: StorageClient, m: { key: string; user: string; id: string }): Promise<BackupRecord | undefined> {
  const text = await objects.getText(m.key);
  return text === undefined ? undefined : recordOf(m.user, m.id, text);
}

/** Every backup of `users` (every user when omitted), oldest first per user. */
export async function listBackups(objects: StorageClient, users?: readonly string[]): Promise<BackupRecord[]> {
  const records = await mapConcurrent(await manifestKeys(objects, users), 16, (m) => readRecord(objects, m));
  return records.filter((r): r is BackupRecord => r !== undefined).sort((a, b) => a.user.localeCompare(b.user) || a.id.localeCompare(b.id));
}

/**
 * The newest verified backup of `user`, or undefined. Manifests are read newest first (ids sort
 * by time) until a verified one: usually one read, not one per backup the user has.
 */
export async function newestVerified(objects: StorageClient, user: string): Promise<BackupRecord | undefined> {
  const newestFirst = (await manifestKeys(objects, [user])).sort((a, b) => b.id.localeCompare(a.id));
  for (const m of newestFirst) {
    const record = await readRecord(objects, m);
    if (record && record.verifiedAt !== null) return record;
  }
  return undefined;
}

/** `--from latest|<id>`: the backup id to restore, checked to exist and be verified. */
export async function resolveBackup(objects: StorageClient, user: string, from: string): Promise<BackupRecord> {
  if (from === "latest") {
    const newest = await newestVerified(objects, user);
    if (!newest) throw new NotFoundError(`${user} has no verified backup`, { hint: `automna backup ${user}` });
    return newest;
  }
  if (!BACKUP_ID.test(from)) throw new UsageError(`"${from}" is not a backup id (bk_...) or "latest"`, { hint: `automna backup list ${user}` });
  const text = await objects.getText(backupKeys(user, from).manifest);
  if (text === undefined) throw new NotFoundError(`no backup ${from} of ${user}`, { hint: `automna backup list ${user}` });
  const record = recordOf(user, from, text);
  if (record.verifiedAt === null) throw new AutomnaError(`backup ${from} of ${user} was never verified against its manifest; it does not count`, { code: "unverified", hint: `automna backup list ${user} shows the verified ones` });
  return record;
}

export interface PruneRules {
  keepLast?: number | undefined;
  /** Keep every backup younger than this, ms. */
  keepWithinMs?: number | undefined;
}

export interface PrunePlan {
  keep: BackupRecord[];
  remove: BackupRecord[];
}

/**
 * What a prune keeps and removes, per user: a verified backup is kept when it is one of the user's
 * last `keepLast` verified ones or younger than `keepWithinMs`; an unverified one is kept only while
 * younger than the window (it may still be being written), else removed. The newest verified
 * backup of a user is always kept, whatever the rules say.
 */
export function planPrune(all: readonly BackupRecord[], rules: PruneRules, now: Date): PrunePlan {
  const keep: BackupRecord[] = [];
  const remove: BackupRecord[] = [];
  const byUser = new Map<string, BackupRecord[]>();
  for (const b of all) byUser.set(b.user, [...(byUser.get(b.user) ?? []), b]);
  for (const list of byUser.values()) {
    const verified = list.filter((b) => b.verifiedAt !== null);
    const last = new Set(verified.slice(-Math.max(1, rules.keepLast ?? 1)).map((b) => b.id));
    for (const b of list) {
      const young = rules.keepWithinMs !== undefined && now.getTime() - Date.parse(b.time) < rules.keepWithinMs;
      (last.has(b.id) || young ? keep : remove).push(b);
    }
  }
  return { keep, remove };
}

/** Deletes a backup: the manifest first, so a half-deleted backup never counts. */
export async function deleteBackup(objects: StorageClient, b: BackupRecord): Promise<void> {
  const keys = backupKeys(b.user, b.id);
  await objects.deleteObject(keys.manifest);
  await objects.deleteObject(keys.archive);
  await objects.deleteObject(keys.env);
}
