import { abortUpload, listUploads, type UploadInProgress } from "../lib/s3-multipart.js";
import type { StorageClient } from "../lib/s3-objects.js";
import { heldByDeadProcess } from "../state/lease.js";
import type { StateStore } from "../state/types.js";
import { UNFINISHED } from "./unfinished.js";

/**
 * Multipart uploads nobody will finish: their parts cost storage until aborted. An archive of a
 * migration is abandoned once the migration has finished (succeeded or rolled back: a rollback
 * aborts its own, so these are the ones a crash left) or is gone; an unfinished migration keeps
 * its upload, since `migrate resume` sends only the parts that are missing. A backup's upload is
 * abandoned unless a `backup` holding that user's lease is still sending it (one whose process is
 * gone left it: running `backup` again before gc sends the missing parts, see backup-resume.ts;
 * the live holder may be such a resumed run, under its own new id).
 */
export async function abandonedUploads(state: StateStore, objects: StorageClient): Promise<UploadInProgress[]> {
  const [migrations, backups, leases] = await Promise.all([listUploads(objects, "migrations/"), listUploads(objects, "backups/"), state.listLeases()]);
  const out: UploadInProgress[] = [];
  for (const u of migrations) {
    const op = /^migrations\/[^/]+\/(op_[a-z0-9]+)\/[a-z]+\.tar$/.exec(u.key)?.[1];
    const found = op ? await state.getOperation(op) : undefined;
    if (!found || !UNFINISHED.has(found.status)) out.push(u);
  }
  const sending = new Set(leases.filter((l) => !heldByDeadProcess(l) && l.holder.operation.startsWith("backup ")).map((l) => l.user));
  for (const u of backups) {
    const m = /^backups\/([^/]+)\/bk_[a-z0-9]+\.tar$/.exec(u.key);
    if (!m || !sending.has(m[1]!)) out.push(u);
  }
  return out;
}

/** Aborts them; the keys aborted. */
export async function abortAbandonedUploads(state: StateStore, objects: StorageClient): Promise<string[]> {
  const uploads = await abandonedUploads(state, objects);
  for (const u of uploads) await abortUpload(objects, u.key, u.uploadId);
  return uploads.map((u) => u.key);
}
