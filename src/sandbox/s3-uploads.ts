import { createHash, randomBytes } from "node:crypto";
import { mkdir, readdir, readFile, rename, rm, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { UsageError } from "../lib/errors.js";
import { parseByteSize, parseInteger } from "../lib/validate.js";
import { S3Error } from "./s3-errors.js";
import type { ObjectHeaders } from "./s3-object-headers.js";
import type { ObjectMeta, ObjectStore, Received } from "./s3-store.js";

/**
 * The S3 stand-in's multipart uploads on disk: `<dir>/uploads/<upload id>/upload.json` (bucket,
 * key, when it began, the object headers given at CreateMultipartUpload) and one data file plus
 * one JSON sidecar per part number (a part sent again replaces the earlier one, as in S3).
 * CompleteMultipartUpload moves the chosen parts under the bucket as the object's data (a rename,
 * no copy) and removes the upload; AbortMultipartUpload removes it with its parts.
 */

/** S3's limits on uploads; the sandbox can lower them so tests move a "large" archive quickly. */
export interface S3Limits {
  /** Largest single PUT (S3: 5 GiB). */
  maxPutBytes: number;
  /** Largest part (S3: 5 GiB). */
  maxPartBytes: number;
  /** Smallest part other than the last (S3: 5 MiB). */
  minPartBytes: number;
  /** Most parts in one upload (S3: 10,000). */
  maxParts: number;
}

export const S3_LIMITS: S3Limits = { maxPutBytes: 5 * 1024 ** 3, maxPartBytes: 5 * 1024 ** 3, minPartBytes: 5 * 1024 ** 2, maxParts: 10_000 };

export interface UploadRecord {
  uploadId: string;
  bucket: string;
  key: string;
  initiated: string;
  object: ObjectHeaders;
}

export interface PartRecord {
  partNumber: number;
  size: number;
  /** MD5 hex in quotes, as S3 reports a part's ETag. */
  etag: string;
  lastModified: string;
}

const ID_RE = /^[A-Za-z0-9_-]{16,128}$/;

export class UploadStore {
  readonly #dir: string;
  readonly #objects: ObjectStore;

  constructor(dir: string, objects: ObjectStore) {
    this.#dir = join(dir, "uploads");
    this.#objects = objects;
  }

  async create(bucket: string, key: string, object: ObjectHeaders): Promise<UploadRecord> {
    const record: UploadRecord = { uploadId: randomBytes(24).toString("base64url"), bucket, key, initiated: new Date().toISOString(), object };
    await mkdir(join(this.#dir, record.uploadId), { recursive: true });
    await writeFile(join(this.#dir, record.uploadId, "upload.json"), JSON.stringify(record));
    return record;
  }

  /** The upload with this id for this bucket and key, or S3's NoSuchUpload. */
  async get(bucket: string, key: string, uploadId: string): Promise<UploadRecord> {
    const record = ID_RE.test(uploadId) ? await this.#read(uploadId) : undefined;
    if (!record || record.bucket !== bucket || record.key !== key) throw noSuchUpload(uploadId);
    return record;
  }

  async #read(uploadId: string): Promise<UploadRecord | undefined> {
    try {
      return JSON.parse(await readFile(join(this.#dir, uploadId, "upload.json"), "utf8")) as UploadRecord;
    } catch {
      return undefined;
    }
  }

  /** Stores a received part (replacing one sent before with the same number). */
  async putPart(upload: UploadRecord, partNumber: number, got: Received): Promise<PartRecord> {
    const dir = join(this.#dir, upload.uploadId);
    const part: PartRecord = { partNumber, size: got.size, etag: `"${got.md5.toString("hex")}"`, lastModified: new Date().toISOString() };
    try {
      await rename(got.tmp, join(dir, `${partNumber}.data`));
      await writeFile(join(dir, `${partNumber}.json`), JSON.stringify(part));
    } catch (error) {
      await rm(got.tmp, { force: true });
      // Aborted or completed while the part was arriving.
      throw (error as NodeJS.ErrnoException).code === "ENOENT" ? noSuchUpload(upload.uploadId) : error;
    }
    return part;
  }

  async parts(upload: UploadRecord): Promise<PartRecord[]> {
    const dir = join(this.#dir, upload.uploadId);
    const names = (await readdir(dir)).filter((n) => /^\d+\.json$/.test(n));
    const out: PartRecord[] = [];
    for (const name of names) {
      try {
        out.push(JSON.parse(await readFile(join(dir, name), "utf8")) as PartRecord);
      } catch {
        // being replaced
      }
    }
    return out.sort((a, b) => a.partNumber - b.partNumber);
  }

  /**
   * CompleteMultipartUpload: the listed parts, in ascending order, each with the ETag it was
   * stored with, every one but the last at least the minimum size. The object's ETag is S3's:
   * the MD5 of the parts' binary MD5s, then `-<number of parts>`.
   */
  async complete(upload: UploadRecord, requested: readonly { partNumber: number; etag: string }[], limits: S3Limits): Promise<ObjectMeta> {
    if (requested.length === 0) throw new S3Error(400, "MalformedXML", "The XML you provided was not well-formed or did not validate against our published schema.");
    const stored = new Map((await this.parts(upload)).map((p) => [p.partNumber, p]));
    const chosen: PartRecord[] = [];
    for (const [i, r] of requested.entries()) {
      if (i > 0 && r.partNumber <= requested[i - 1]!.partNumber) throw new S3Error(400, "InvalidPartOrder", "The list of parts was not in ascending order. The parts list must be specified in order by part number.");
      const part = stored.get(r.partNumber);
      if (!part || normalEtag(part.etag) !== normalEtag(r.etag)) {
        throw new S3Error(400, "InvalidPart", "One or more of the specified parts could not be found. The part may not have been uploaded, or the specified entity tag may not match the part's entity tag.", { PartNumber: String(r.partNumber), ETag: r.etag });
      }
      chosen.push(part);
    }
    for (const part of chosen.slice(0, -1)) {
      if (part.size < limits.minPartBytes) {
        throw new S3Error(400, "EntityTooSmall", "Your proposed upload is smaller than the minimum allowed object size.", { PartNumber: String(part.partNumber), ProposedSize: String(part.size), MinSizeAllowed: String(limits.minPartBytes) });
      }
    }
    const md5s = Buffer.concat(chosen.map((p) => Buffer.from(normalEtag(p.etag), "hex")));
    const etag = `"${createHash("md5").update(md5s).digest("hex")}-${chosen.length}"`;
    const dir = join(this.#dir, upload.uploadId);
    const meta = await this.#objects.commitParts(upload.bucket, upload.key, chosen.map((p) => ({ path: join(dir, `${p.partNumber}.data`), size: p.size })), etag, upload.object);
    await rm(dir, { recursive: true, force: true });
    return meta;
  }

  async abort(upload: UploadRecord): Promise<void> {
    await rm(join(this.#dir, upload.uploadId), { recursive: true, force: true });
  }

  /** Uploads in progress in a bucket, by key (UTF-8 byte order) and then by when they began. */
  async list(bucket: string): Promise<UploadRecord[]> {
    let ids: string[];
    try {
      ids = await readdir(this.#dir);
    } catch {
      return [];
    }
    const out: UploadRecord[] = [];
    for (const id of ids) {
      const record = await this.#read(id);
      if (record?.bucket === bucket) out.push(record);
    }
    return out.sort((a, b) => Buffer.compare(Buffer.from(a.key), Buffer.from(b.key)) || a.initiated.localeCompare(b.initiated) || a.uploadId.localeCompare(b.uploadId));
  }
}

function noSuchUpload(uploadId: string): S3Error {
  return new S3Error(404, "NoSuchUpload", "The specified upload does not exist. The upload ID may be invalid, or the upload may have been aborted or completed.", { UploadId: uploadId });
}

function normalEtag(etag: string): string {
  return etag.trim().replace(/^"|"$/g, "").toLowerCase();
}

const LIMIT_NAMES: Record<string, keyof S3Limits> = { put: "maxPutBytes", partMax: "maxPartBytes", partMin: "minPartBytes", parts: "maxParts" };

/**
 * Limits from `put=1MiB,partMin=64KiB,partMax=1MiB,parts=100` (AUTOMNA_SANDBOX_S3_LIMITS for
 * `automna sandbox up`): tests lower them to move a "large" archive in seconds.
 */
export function parseS3Limits(text: string | undefined): Partial<S3Limits> {
  const out: Partial<S3Limits> = {};
  for (const pair of (text ?? "").split(",").map((p) => p.trim()).filter(Boolean)) {
    const [name = "", value = ""] = pair.split("=");
    const field = LIMIT_NAMES[name];
    if (!field) throw new UsageError(`AUTOMNA_SANDBOX_S3_LIMITS: unknown limit "${name}" (put, partMin, partMax, parts)`);
    out[field] = field === "maxParts" ? parseInteger(`AUTOMNA_SANDBOX_S3_LIMITS ${name}`, value, 1) : parseByteSize(`AUTOMNA_SANDBOX_S3_LIMITS ${name}`, value);
  }
  return out;
}
