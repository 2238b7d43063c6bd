import { createHash, randomUUID } from "node:crypto";
import { createReadStream, createWriteStream, type ReadStream } from "node:fs";
import { mkdir, readFile, readdir, rename, rm, stat, unlink, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { Transform, type Readable } from "node:stream";
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
  /** File name of the data under the bucket's objects directory. */
  dataFile: string;
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

  /** Opens an object's bytes; retries once if a concurrent overwrite replaced the data file. */
  async open(bucket: string, key: string, range?: { start: number; end: number }): Promise<{ meta: ObjectMeta; stream: ReadStream } | undefined> {
    for (let attempt = 0; attempt < 2; attempt++) {
      const meta = await this.head(bucket, key);
      if (!meta) return undefined;
      const path = join(this.#objectsDir(bucket), meta.dataFile);
      try {
        const stream = createReadStream(path, range ? { start: range.start, end: range.end } : {});
        await new Promise<void>((resolve, reject) => {
          stream.once("open", () => resolve());
          stream.once("error", reject);
        });
        return { meta, stream };
      } catch (error) {
        if ((error as NodeJS.ErrnoException).code !== "ENOENT") throw error;
      }
    }
    return undefined;
  }

  /** Streams `body` to disk and commits it as `key`. */
  async put(bucket: string, key: string, body: Readable, options: PutOptions): Promise<ObjectMeta> {
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
      const meta: ObjectMeta = {
        key,
        size: bytes,
        etag: `"${md5Digest.toString("hex")}"`,
        lastModified: new Date().toISOString(),
        contentType: options.object.contentType,
        headers: options.object.headers,
        userMeta: options.object.userMeta,
        ...(checksum ? { checksum } : {}),
        dataFile: `${createHash("sha256").update(key).digest("hex")}.${randomUUID()}.data`,
      };
      await this.#commit(bucket, tmp, meta);
      return meta;
    } finally {
      await rm(tmp, { force: true });
    }
  }

  /** Rename the data into place, then swap the sidecar; serialised per key. */
  async #commit(bucket: string, tmp: string, meta: ObjectMeta): Promise<void> {
    await this.#withLock(`${bucket}/${meta.key}`, async () => {
      const dir = this.#objectsDir(bucket);
      const old = await this.head(bucket, meta.key);
      await rename(tmp, join(dir, meta.dataFile));
      const metaTmp = join(this.dir, "tmp", `${randomUUID()}.json`);
      await writeFile(metaTmp, JSON.stringify(meta));
      await rename(metaTmp, this.#metaPath(bucket, meta.key));
      if (old) await rm(join(dir, old.dataFile), { force: true });
    });
  }

  async delete(bucket: string, key: string): Promise<boolean> {
    return this.#withLock(`${bucket}/${key}`, async () => {
      const meta = await this.head(bucket, key);
      if (!meta) return false;
      await unlink(this.#metaPath(bucket, key));
      await rm(join(this.#objectsDir(bucket), meta.dataFile), { force: true });
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
