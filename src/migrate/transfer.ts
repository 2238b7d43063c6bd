import { AutomnaError } from "../lib/errors.js";
import { abortUpload, completeUpload, createUpload, listParts, listUploads, multipartEtag, partPlan, presignPart, type UploadedPart } from "../lib/s3-multipart.js";
import { presignUrl } from "../lib/s3-presign.js";
import type { Instance } from "../state/types.js";
import { runScript, type HostDeps } from "./host.js";
import { reportNumber, reportSha, type Report } from "./report.js";
import { curlConfig, partsScript, putArchiveScript } from "./scripts.js";

/**
 * Getting an archive from a host's work directory into the object store. A script that made the
 * archive already PUT it when it was at most the multipart threshold; past it, the CLI creates a
 * multipart upload (or finds the one a crashed run began, with the parts that arrived), the host
 * sends the missing parts through presigned part URLs, and the CLI completes it. A part that
 * arrived is never sent again.
 */

/** Where archives go and how (config `storage.multipartThreshold`, `storage.partSize`). */
export interface TransferSettings {
  /** Archives larger than this go in parts (at most 5 GiB: S3's largest single PUT). */
  multipartThreshold: number;
  /** Size of each part but the last (a whole number of MiB). */
  partSize: number;
}

export const DEFAULT_TRANSFER: TransferSettings = { multipartThreshold: 100 * 1024 * 1024, partSize: 64 * 1024 * 1024 };

const PRESIGN_SECONDS = 6 * 3600;

export function presign(deps: HostDeps, method: "PUT" | "GET", key: string): string {
  const s = deps.storage;
  return presignUrl({ method, endpoint: s.endpoint, bucket: s.bucket, key, region: s.region, accessKeyId: s.accessKeyId, secretAccessKey: s.secretAccessKey, expiresInSeconds: PRESIGN_SECONDS, now: deps.now() });
}

/**
 * Stdin for a script that makes and sends an archive: the PUT config line, and when resuming, the
 * size and MD5 of the object already stored (a single-part one), so the script can skip the PUT
 * when the very same bytes are there.
 */
export async function putStdin(deps: HostDeps, key: string, resumed: boolean): Promise<string> {
  let skip = "";
  if (resumed) {
    const head = await deps.objects.headObject(key);
    const etag = head?.etag.replace(/"/g, "") ?? "";
    if (head && /^[0-9a-f]{32}$/.test(etag)) skip = `${head.size} ${etag}`;
  }
  return `${curlConfig(presign(deps, "PUT", key))}${skip}\n`;
}

/** An archive sent: its sha256 and size, and the parts when it went in parts. */
export interface SentArchive {
  sha256: string;
  bytes: number;
  parts?: number;
}

/** An archive a script made in the work directory. */
export interface MadeArchive {
  sha256: string;
  bytes: number;
  /** The script PUT it already (or found it stored): nothing left to send. */
  sent: boolean;
  /** It is the archive a crashed run made (and maybe began sending), not a new one. */
  reused: boolean;
  /** ETags of the parts sent earlier, saved on the host. */
  savedParts: ReadonlyMap<number, string>;
}

export function madeArchive(report: Report, name: string): MadeArchive {
  const what = `sending ${name}.tar`;
  const uploaded = report.kv.uploaded;
  if (uploaded !== "0" && uploaded !== "1" && uploaded !== "skip") throw new AutomnaError(`${what}: unexpected answer from the host`, { code: "remote_failed" });
  return { sha256: reportSha(report, "sha256", what), bytes: reportNumber(report, "bytes", what), sent: uploaded !== "0", reused: report.kv.reused === "1", savedParts: report.parts };
}

/**
 * Sends an archive already complete in the work directory (a backup's): one PUT, or parts past the
 * threshold. `savedParts`: the archive is the one a killed run began sending in parts (their
 * ETags as the host saved them): its upload goes on with the parts not stored yet.
 */
export async function sendArchive(deps: HostDeps, instance: Instance, workId: string, name: string, key: string, archive: { sha256: string; bytes: number }, savedParts?: ReadonlyMap<number, string>): Promise<SentArchive> {
  if (archive.bytes > deps.transfer.multipartThreshold) return finishUpload(deps, instance, workId, name, key, { ...archive, sent: false, reused: savedParts !== undefined, savedParts: savedParts ?? new Map() });
  await runScript(deps, instance, `uploading ${name}.tar`, putArchiveScript(workId, name), curlConfig(presign(deps, "PUT", key)));
  return archive;
}

/** Finishes sending the archive `<name>.tar` a script made on `instance` (see the module comment). */
export async function finishUpload(deps: HostDeps, instance: Instance, workId: string, name: string, key: string, made: MadeArchive): Promise<SentArchive> {
  const what = `sending ${name}.tar`;
  const archive = { sha256: made.sha256, bytes: made.bytes };
  if (made.sent) return archive;
  const plan = partPlan(archive.bytes, deps.transfer.partSize);
  // A crashed run may have completed it already: the parts' ETags it saved tell whether the stored object is this archive.
  if (made.reused && made.savedParts.size === plan.parts) {
    const head = await deps.objects.headObject(key);
    const saved = [...made.savedParts.entries()].sort((a, b) => a[0] - b[0]).map(([, e]) => e);
    if (head && head.size === archive.bytes && head.etag === multipartEtag(saved)) return { ...archive, parts: plan.parts };
  }
  const uploadId = await openUpload(deps, key, made.reused);
  const arrived = new Map<number, UploadedPart>();
  for (const p of (await listParts(deps.objects, key, uploadId)) ?? []) {
    const size = p.partNumber < plan.parts ? plan.partSize : archive.bytes - (plan.parts - 1) * plan.partSize;
    if (p.partNumber <= plan.parts && p.size === size) arrived.set(p.partNumber, p);
  }
  const missing = Array.from({ length: plan.parts }, (_, i) => i + 1).filter((n) => !arrived.has(n));
  const sent = new Map<number, string>();
  if (missing.length) {
    const stdin = missing.map((n) => `${n} ${presignPart(deps.storage, key, uploadId, n, deps.now(), PRESIGN_SECONDS)}\n`).join("");
    const out = await runScript(deps, instance, `sending ${name}.tar in ${missing.length} part${missing.length === 1 ? "" : "s"}`, partsScript(workId, name, plan.partSize), stdin);
    for (const m of out.matchAll(/^part (\d+) (\S+)$/gm)) sent.set(Number(m[1]), m[2]!);
  }
  const parts = Array.from({ length: plan.parts }, (_, i) => {
    const etag = sent.get(i + 1) ?? arrived.get(i + 1)?.etag;
    if (!etag) throw new AutomnaError(`${what}: part ${i + 1} was not sent`, { code: "remote_failed" });
    return { partNumber: i + 1, etag };
  });
  try {
    await completeUpload(deps.objects, key, uploadId, parts);
  } catch (error) {
    // An answer lost after the store completed it: the object is there with the ETag it must have.
    const head = await deps.objects.headObject(key);
    if (!(error instanceof AutomnaError && error.code === "no_such_upload" && head?.size === archive.bytes && head.etag === multipartEtag(parts.map((p) => p.etag)))) throw error;
  }
  return { ...archive, parts: plan.parts };
}

/**
 * The upload to send parts to: the newest one in progress for the key when the archive is the one
 * a crashed run began sending (the others aborted), else a new one (every earlier one aborted:
 * their parts belong to an archive that no longer exists).
 */
async function openUpload(deps: HostDeps, key: string, reused: boolean): Promise<string> {
  const existing = (await listUploads(deps.objects, key)).filter((u) => u.key === key).sort((a, b) => a.initiated.localeCompare(b.initiated));
  const keep = reused ? existing.at(-1) : undefined;
  for (const u of existing) if (u !== keep) await abortUpload(deps.objects, key, u.uploadId);
  return keep?.uploadId ?? createUpload(deps.objects, key);
}
