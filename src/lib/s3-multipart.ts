import { createHash } from "node:crypto";
import { AutomnaError } from "./errors.js";
import { xmlText, type StorageClient } from "./s3-objects.js";
import { presignRequest, type StorageSettings } from "./s3-presign.js";
import { s3CanonicalUri } from "./sigv4.js";

/**
 * S3 multipart uploads as automna uses them for archives past a size threshold: the CLI creates
 * the upload, lists what is in progress and which parts arrived, completes or aborts it with
 * header-signed calls; the bytes go from the host straight to the store through presigned part
 * URLs. Parts are all the same size but the last, as R2 requires (S3 does not mind).
 */

/** S3's and R2's limits on one upload. */
export const MAX_PARTS = 10_000;
export const MAX_PART_BYTES = 5 * 1024 ** 3;
/** Part sizes are whole MiB (the host cuts them with dd in 1 MiB blocks). */
const MIB = 1024 * 1024;

export interface UploadInProgress {
  key: string;
  uploadId: string;
  initiated: string;
}

export interface UploadedPart {
  partNumber: number;
  /** As the store reports it, quotes included. */
  etag: string;
  size: number;
}

/** Part size and count for an archive: the configured size, larger when 10,000 parts would not hold it. */
export function partPlan(bytes: number, partSize: number): { partSize: number; parts: number } {
  const needed = Math.ceil(bytes / MAX_PARTS / MIB) * MIB;
  const size = Math.max(partSize, needed);
  if (size > MAX_PART_BYTES) throw new AutomnaError(`an archive of ${bytes} bytes needs parts over 5 GiB; object storage takes at most 10,000 parts of 5 GiB`, { code: "archive_too_large" });
  return { partSize: size, parts: Math.max(1, Math.ceil(bytes / size)) };
}

/** The ETag S3 gives a completed multipart object: the MD5 of the parts' binary MD5s, then `-<parts>`. */
export function multipartEtag(partEtags: readonly string[]): string {
  const md5s = Buffer.concat(partEtags.map((e) => Buffer.from(e.replace(/"/g, ""), "hex")));
  return `"${createHash("md5").update(md5s).digest("hex")}-${partEtags.length}"`;
}

/** A presigned UploadPart URL (what the host's curl PUTs one part to). */
export function presignPart(s: StorageSettings, key: string, uploadId: string, partNumber: number, now: Date, expiresInSeconds = 6 * 3600): string {
  const url = new URL(`${new URL(s.endpoint).origin}${s3CanonicalUri(s.bucket, key)}?partNumber=${partNumber}&uploadId=${encodeURIComponent(uploadId)}`);
  return presignRequest({ method: "PUT", url, region: s.region, accessKeyId: s.accessKeyId, secretAccessKey: s.secretAccessKey, expiresInSeconds, now });
}

function blocks(xml: string, tag: string): string[] {
  return [...xml.matchAll(new RegExp(`<${tag}>([\\s\\S]*?)</${tag}>`, "g"))].map((m) => m[1]!);
}

export async function createUpload(client: StorageClient, key: string): Promise<string> {
  const res = await client.call("POST", key, "uploads=");
  const id = xmlText(res.text, "UploadId");
  if (!id) throw new AutomnaError(`object storage did not return an upload id for ${key}`, { code: "storage_error" });
  return id;
}

/** Uploads in progress under `prefix`, oldest first for each key. */
export async function listUploads(client: StorageClient, prefix: string): Promise<UploadInProgress[]> {
  const out: UploadInProgress[] = [];
  let marker: { key: string; id: string } | undefined;
  for (;;) {
    const q = new URLSearchParams({ uploads: "", prefix });
    if (marker) {
      q.set("key-marker", marker.key);
      q.set("upload-id-marker", marker.id);
    }
    const xml = (await client.call("GET", undefined, q.toString())).text;
    for (const u of blocks(xml, "Upload")) out.push({ key: xmlText(u, "Key") ?? "", uploadId: xmlText(u, "UploadId") ?? "", initiated: xmlText(u, "Initiated") ?? "" });
    const nextKey = xmlText(xml, "NextKeyMarker");
    if (xmlText(xml, "IsTruncated") !== "true" || !nextKey) return out;
    marker = { key: nextKey, id: xmlText(xml, "NextUploadIdMarker") ?? "" };
  }
}

/** The parts that arrived (a resumed upload sends only the others). Undefined when the upload is gone. */
export async function listParts(client: StorageClient, key: string, uploadId: string): Promise<UploadedPart[] | undefined> {
  const out: UploadedPart[] = [];
  let marker = 0;
  for (;;) {
    const res = await client.call("GET", key, new URLSearchParams({ uploadId, "part-number-marker": String(marker) }).toString(), undefined, true);
    if (res.status === 404) return undefined;
    for (const p of blocks(res.text, "Part")) out.push({ partNumber: Number(xmlText(p, "PartNumber")), etag: xmlText(p, "ETag") ?? "", size: Number(xmlText(p, "Size")) });
    const next = Number(xmlText(res.text, "NextPartNumberMarker") ?? 0);
    if (xmlText(res.text, "IsTruncated") !== "true" || next <= marker) return out;
    marker = next;
  }
}

/** Completes an upload with its parts in order; the object's ETag. */
export async function completeUpload(client: StorageClient, key: string, uploadId: string, parts: readonly { partNumber: number; etag: string }[]): Promise<string> {
  const esc = (v: string): string => v.replace(/[<>&"]/g, (c) => ({ "<": "&lt;", ">": "&gt;", "&": "&amp;", '"': "&quot;" })[c]!);
  const body = `<CompleteMultipartUpload>${[...parts].sort((a, b) => a.partNumber - b.partNumber).map((p) => `<Part><PartNumber>${p.partNumber}</PartNumber><ETag>${esc(p.etag)}</ETag></Part>`).join("")}</CompleteMultipartUpload>`;
  const res = await client.call("POST", key, new URLSearchParams({ uploadId }).toString(), Buffer.from(body), true);
  // S3 may answer 200 with an error in the body when a long completion fails.
  if (res.status === 404 || xmlText(res.text, "Code")) {
    throw new AutomnaError(`object storage did not complete the upload of ${key}: ${xmlText(res.text, "Code") ?? "NoSuchUpload"}`, { code: res.status === 404 ? "no_such_upload" : "storage_error" });
  }
  return xmlText(res.text, "ETag") ?? "";
}

/** Aborts an upload (its parts are deleted); one already gone is fine. */
export async function abortUpload(client: StorageClient, key: string, uploadId: string): Promise<void> {
  await client.call("DELETE", key, new URLSearchParams({ uploadId }).toString(), undefined, true);
}

/** Aborts every upload in progress under `prefix`; how many. */
export async function abortUploads(client: StorageClient, prefix: string): Promise<number> {
  const uploads = await listUploads(client, prefix);
  for (const u of uploads) await abortUpload(client, u.key, u.uploadId);
  return uploads.length;
}
