import { createHash, randomUUID } from "node:crypto";
import { createReadStream, createWriteStream, type ReadStream } from "node:fs";
import { mkdir, readFile, readdir, rename, rm, stat, unlink, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { Readable, Transform } from "node:stream";
import { pipeline } from "node:stream/promises";
import { checksumHasher, checksumMismatch, type ChecksumAlgorithm, type StoredChecksum } from "./s3-checksums.js";
import { S3Error } from "./s3-errors.js";
import type { ObjectHeaders } from "./s3-object-headers.js";

/**
 * The S3 stand-in's disk store. Each object is a data file plus a JSON sidecar named by the
 * sha256 of its key (keys may hold `/`, `..` or be 1 KiB long, so they never become paths).
 * Uploads stream to a temp file and are renamed into place only when complete and verified,
 * so a reader sees the old object or the new one, never half of one, and nothing is buffered.
 */

export interface ObjectMeta {
  key: string;
  size: number;
  /** MD5 hex in quotes, as S3 reports it for a single-part upload. */
  etag: string;
  lastModified: string;
  contentType: string;
  /** Stored content headers (Cache-Control...), lower-case names; absent in objects written before they were kept. */
  headers?: Record<string, string>;
  /** `x-amz-meta-*` without the prefix. */
  userMeta?: Record<string, string>;
  /** The additional checksum the upload sent and the sandbox verified. */
  checksum?: StoredChecksum;
  /** File name of the data under the bucket's objects directory ("" for a multipart object). */
  dataFile: string;
  /** A completed multipart upload: its parts' files (under the objects directory), in order. */
  parts?: PartFile[];
}

/** One part of a multipart object on disk. */
export interface PartFile {
  file: string;
  size: number;
}

/** An upload body received into a temp file, checked, not yet anyone's data. */
export interface Received {
  tmp: string;
  size: number;
  md5: Buffer;
  checksum: StoredChecksum | undefined;
}

export interface PutOptions {
  contentLength: number;
  object: ObjectHeaders;
  /** An additional checksum to compute and check; `expected` is asked once the body has ended (it may come as a trailer). */
  checksum?: { algorithm: ChecksumAlgorithm; expected(): string } | undefined;
  /** sha256 hex the client signed; the upload is rejected if the bytes differ. */
  expectedSha256?: string | undefined;
  /** base64 MD5 from Content-MD5; the upload is rejected if the bytes differ. */
  expectedMd5Base64?: string | undefined;
}

export interface ListOptions {
  prefix: string;
  delimiter?: string | undefined;
  maxKeys: number;
  startAfter?: string | undefined;
}

export interface ListResult {
  objects: ObjectMeta[];
  commonPrefixes: string[];
  truncated: boolean;
  /** The last key or prefix returned, to continue after. */
  lastReturned?: string | undefined;
}

const BUCKET_RE = /^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$/;

export function validBucketName(name: string): boolean {
  return BUCKET_RE.test(name) && !name.includes("..") && !/^\d+\.\d+\.\d+\.\d+$/.test(name);
}

export class ObjectStore {
  readonly dir: string;
  readonly #locks = new Map<string, Promise<void>>();

  constructor(dir: string) {
    this.dir = dir;
  }

  async init(buckets: readonly string[]): Promise<void> {
    await mkdir(join(this.dir, "tmp"), { recursive: true });
    for (const bucket of buckets) await this.createBucket(bucket);
  }

  #objectsDir(bucket: string): string {
    return join(this.dir, "buckets", bucket, "objects");
  }

  #metaPath(bucket: string, key: string): string {
    return join(this.#objectsDir(bucket), `${createHash("sha256").update(key).digest("hex")}.json`);
  }

  async createBucket(bucket: string): Promise<boolean> {
    if (!validBucketName(bucket)) throw new S3Error(400, "InvalidBucketName", "The specified bucket is not valid.", { BucketName: bucket });
    const existed = await this.bucketExists(bucket);
    await mkdir(this.#objectsDir(bucket), { recursive: true });
    return !existed;
  }

  async bucketExists(bucket: string): Promise<boolean> {
    if (!validBucketName(bucket)) return false;
    try {
      return (await stat(this.#objectsDir(bucket))).isDirectory();
    } catch {
      return false;
    }
  }

  async requireBucket(bucket: string): Promise<void> {
    if (!(await this.bucketExists(bucket))) {
      throw new S3Error(404, "NoSuchBucket", "The specified bucket does not exist", { BucketName: bucket });
    }
  }

  /** DeleteBucket: only an empty bucket, as S3 does. */
  async deleteBucket(bucket: string): Promise<void> {
    await this.requireBucket(bucket);
    if ((await readdir(this.#objectsDir(bucket))).some((n) => n.endsWith(".json"))) {
      throw new S3Error(409, "BucketNotEmpty", "The bucket you tried to delete is not empty", { BucketName: bucket });
    }
    await rm(join(this.dir, "buckets", bucket), { recursive: true, force: true });
  }

  async head(bucket: string, key: string): Promise<ObjectMeta | undefined> {
    try {
      return JSON.parse(await readFile(this.#metaPath(bucket, key), "utf8")) as ObjectMeta;
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === "ENOENT") return undefined;
      throw error;
    }
  }

  /**
   * Opens an object's bytes (every file of a multipart object, so a concurrent overwrite cannot
   * pull one away mid-read); retries once if an overwrite replaced the data in between.
   */
  async open(bucket: string, key: string, range?: { start: number; end: number }): Promise<{ meta: ObjectMeta; stream: Readable } | undefined> {
    for (let attempt = 0; attempt < 2; attempt++) {
      const meta = await this.head(bucket, key);
      if (!meta) return undefined;
      const dir = this.#objectsDir(bucket);
      const pieces = slices(meta, range ?? { start: 0, end: meta.size - 1 });
      const streams: ReadStream[] = [];
      try {
        for (const p of pieces) {
          const stream = createReadStream(join(dir, p.file), { start: p.start, end: p.end });
          streams.push(stream);
          await new Promise<void>((resolve, reject) => {
            stream.once("open", () => resolve());
            stream.once("error", reject);
          });
        }
        return { meta, stream: streams.length === 1 ? streams[0]! : Readable.from(concatenated(streams)) };
      } catch (error) {
        for (const s of streams) s.destroy();
        if ((error as NodeJS.ErrnoException).code !== "ENOENT") throw error;
      }
    }
    return undefined;
  }

  /** Streams `body` to disk and commits it as `key`. */
  async put(bucket: string, key: string, body: Readable, options: PutOptions): Promise<ObjectMeta> {
    const got = await this.receive(body, options);
    try {
      const meta: ObjectMeta = {
        ...this.#metaBase(key, got.size, `"${got.md5.toString("hex")}"`, options.object),
        ...(got.checksum ? { checksum: got.checksum } : {}),
        dataFile: `${createHash("sha256").update(key).digest("hex")}.${randomUUID()}.data`,
      };
      await this.#commit(bucket, meta, async (dir) => rename(got.tmp, join(dir, meta.dataFile)));
      return meta;
    } finally {
      await rm(got.tmp, { force: true });
    }
  }

  /**
   * Streams an upload body to a temp file, checking its length and every digest the request
   * committed to (signed sha256, Content-MD5, an additional checksum). The caller moves the file
   * where it belongs; on failure nothing is left behind.
   */
  async receive(body: Readable, options: Omit<PutOptions, "object">): Promise<Received> {
    const tmp = join(this.dir, "tmp", randomUUID());
    const md5 = createHash("md5");
    const sha = options.expectedSha256 ? createHash("sha256") : undefined;
    const extra = options.checksum ? checksumHasher(options.checksum.algorithm) : undefined;
    let bytes = 0;
    const meter = new Transform({
      transform(chunk: Buffer, _enc, done) {
        bytes += chunk.length;
        md5.update(chunk);
        sha?.update(chunk);
        extra?.update(chunk);
        done(null, chunk);
      },
    });
    try {
      await pipeline(body, meter, createWriteStream(tmp, { flags: "wx" }));
      if (bytes !== options.contentLength) {
        throw new S3Error(400, "IncompleteBody", "You did not provide the number of bytes specified by the Content-Length HTTP header.");
      }
      const md5Digest = md5.digest();
      if (options.expectedMd5Base64 !== undefined && md5Digest.toString("base64") !== options.expectedMd5Base64) {
        throw new S3Error(400, "BadDigest", "The Content-MD5 you specified did not match what we received.");
      }
      if (sha && options.expectedSha256) {
        const got = sha.digest("hex");
        if (got !== options.expectedSha256) {
          throw new S3Error(400, "XAmzContentSHA256Mismatch", "The provided 'x-amz-content-sha256' header does not match what was computed.", {
            ClientComputedContentSHA256: options.expectedSha256,
            S3ComputedContentSHA256: got,
          });
        }
      }
      let checksum: StoredChecksum | undefined;
      if (options.checksum && extra) {
        checksum = { algorithm: options.checksum.algorithm, value: extra.base64() };
        if (checksum.value !== options.checksum.expected()) throw checksumMismatch(checksum.algorithm);
      }
      return { tmp, size: bytes, md5: md5Digest, checksum };
    } catch (error) {
      await rm(tmp, { force: true });
      throw error;
    }
  }

  /** Commits a completed multipart upload: its part files move under the bucket (no copy), in order. */
  async commitParts(bucket: string, key: string, parts: readonly { path: string; size: number }[], etag: string, object: ObjectHeaders): Promise<ObjectMeta> {
    const prefix = `${createHash("sha256").update(key).digest("hex")}.${randomUUID()}`;
    const files = parts.map((p, i) => ({ file: `${prefix}.part${i + 1}`, size: p.size }));
    const meta: ObjectMeta = { ...this.#metaBase(key, files.reduce((n, f) => n + f.size, 0), etag, object), dataFile: "", parts: files };
    await this.#commit(bucket, meta, async (dir) => {
      for (const [i, p] of parts.entries()) await rename(p.path, join(dir, files[i]!.file));
    });
    return meta;
  }

  #metaBase(key: string, size: number, etag: string, object: ObjectHeaders): Omit<ObjectMeta, "dataFile"> {
    return { key, size, etag, lastModified: new Date().toISOString(), contentType: object.contentType, headers: object.headers, userMeta: object.userMeta };
  }

  /** Puts the data in place (`place`), then swaps the sidecar and drops the old data; serialised per key. */
  async #commit(bucket: string, meta: ObjectMeta, place: (dir: string) => Promise<void>): Promise<void> {
    await this.#withLock(`${bucket}/${meta.key}`, async () => {
      const dir = this.#objectsDir(bucket);
      const old = await this.head(bucket, meta.key);
      await place(dir);
      const metaTmp = join(this.dir, "tmp", `${randomUUID()}.json`);
      await writeFile(metaTmp, JSON.stringify(meta));
      await rename(metaTmp, this.#metaPath(bucket, meta.key));
      if (old) await this.#removeData(dir, old);
    });
  }

  async #removeData(dir: string, meta: ObjectMeta): Promise<void> {
    for (const file of dataFilesOf(meta)) await rm(join(dir, file), { force: true });
  }

  async delete(bucket: string, key: string): Promise<boolean> {
    return this.#withLock(`${bucket}/${key}`, async () => {
      const meta = await this.head(bucket, key);
      if (!meta) return false;
      await unlink(this.#metaPath(bucket, key));
      await this.#removeData(this.#objectsDir(bucket), meta);
      return true;
    });
  }

  /** ListObjectsV2 semantics: keys in UTF-8 byte order, prefix, delimiter grouping, max-keys. */
  async list(bucket: string, options: ListOptions): Promise<ListResult> {
    const dir = this.#objectsDir(bucket);
    const names = (await readdir(dir)).filter((n) => n.endsWith(".json"));
    const metas: ObjectMeta[] = [];
    for (const name of names) {
      try {
        metas.push(JSON.parse(await readFile(join(dir, name), "utf8")) as ObjectMeta);
      } catch {
        // Deleted while listing.
      }
    }
    const byteOrder = (a: string, b: string): number => Buffer.compare(Buffer.from(a), Buffer.from(b));
    const keys = metas.filter((m) => m.key.startsWith(options.prefix)).sort((a, b) => byteOrder(a.key, b.key));
    const result: ListResult = { objects: [], commonPrefixes: [], truncated: false };
    const seenPrefixes = new Set<string>();
    for (const meta of keys) {
      if (options.startAfter !== undefined && byteOrder(meta.key, options.startAfter) <= 0) continue;
      let entry: string | undefined;
      if (options.delimiter) {
        const at = meta.key.indexOf(options.delimiter, options.prefix.length);
        if (at !== -1) entry = meta.key.slice(0, at + options.delimiter.length);
      }
      if (entry !== undefined && seenPrefixes.has(entry)) continue;
      // A prefix that sorts before startAfter's own prefix was already returned on an earlier page.
      if (entry !== undefined && options.startAfter !== undefined && options.startAfter.startsWith(entry)) continue;
      if (result.objects.length + result.commonPrefixes.length >= options.maxKeys) {
        result.truncated = true;
        break;
      }
      if (entry !== undefined) {
        seenPrefixes.add(entry);
        result.commonPrefixes.push(entry);
        result.lastReturned = entry;
      } else {
        result.objects.push(meta);
        result.lastReturned = meta.key;
      }
    }
    return result;
  }

  async #withLock<T>(name: string, fn: () => Promise<T>): Promise<T> {
    const previous = this.#locks.get(name) ?? Promise.resolve();
    let release!: () => void;
    const current = new Promise<void>((resolve) => (release = resolve));
    const chained = previous.then(() => current);
    this.#locks.set(name, chained);
    await previous;
    try {
      return await fn();
    } finally {
      release();
      if (this.#locks.get(name) === chained) this.#locks.delete(name);
    }
  }
}

/** The data files of an object: one, or its parts in order. */
export function dataFilesOf(meta: ObjectMeta): string[] {
  return meta.parts ? meta.parts.map((p) => p.file) : [meta.dataFile];
}

/** Which byte ranges of which files make up `range` of the object (inclusive ends). */
function slices(meta: ObjectMeta, range: { start: number; end: number }): { file: string; start: number; end: number }[] {
  const files = meta.parts ?? [{ file: meta.dataFile, size: meta.size }];
  const out: { file: string; start: number; end: number }[] = [];
  let offset = 0;
  for (const f of files) {
    const first = Math.max(range.start, offset);
    const last = Math.min(range.end, offset + f.size - 1);
    if (first <= last) out.push({ file: f.file, start: first - offset, end: last - offset });
    offset += f.size;
  }
  return out;
}

async function* concatenated(streams: ReadStream[]): AsyncGenerator<Buffer> {
  try {
    for (const s of streams) for await (const chunk of s) yield chunk as Buffer;
  } finally {
    for (const s of streams) s.destroy();
  }
}
