import type { IncomingMessage, ServerResponse } from "node:http";
import { Transform } from "node:stream";
import { pipeline } from "node:stream/promises";
import type { VerifiedRequest } from "./s3-auth.js";
import { S3Error, XML_HEADER, xmlEscape } from "./s3-errors.js";
import type { ObjectMeta, ObjectStore } from "./s3-store.js";
import type { S3RequestRecord } from "./s3.js";

/** The S3 stand-in's object operations: streaming PUT and GET (with ranges and faults), ListObjectsV2. */

export interface HandlerContext {
  store: ObjectStore;
  secrets: ReadonlyMap<string, string>;
  region: string;
  now: () => Date;
  maxObjectBytes: number;
  state: { corruptDownloads: number; failUploads: number; failStatus: number };
  requests: S3RequestRecord[];
}

export interface Target {
  bucket: string;
  key: string | undefined;
  query: Array<[string, string]>;
  auth: VerifiedRequest;
}

export async function putObject(ctx: HandlerContext, t: Target, key: string, req: IncomingMessage, res: ServerResponse): Promise<void> {
  const lengthHeader = req.headers["content-length"];
  if (lengthHeader === undefined) throw new S3Error(411, "MissingContentLength", "You must provide the Content-Length HTTP header.");
  const length = Number(lengthHeader);
  if (!Number.isSafeInteger(length) || length < 0) throw new S3Error(400, "InvalidArgument", "Content-Length is not a valid number");
  if (length > ctx.maxObjectBytes) {
    throw new S3Error(400, "EntityTooLarge", "Your proposed upload exceeds the maximum allowed size", { ProposedSize: String(length), MaxSizeAllowed: String(ctx.maxObjectBytes) });
  }
  if (/100-continue/i.test(req.headers.expect ?? "")) res.writeContinue();
  if (ctx.state.failUploads > 0) {
    ctx.state.failUploads--;
    // Read the whole body first, like a store that failed while committing it.
    await pipeline(req, new Transform({ transform: (_c, _e, done) => done() }));
    throw new S3Error(ctx.state.failStatus, ctx.state.failStatus === 503 ? "SlowDown" : "InternalError", "We encountered an internal error. Please try again. (injected)");
  }
  const md5 = req.headers["content-md5"];
  const meta = await ctx.store.put(t.bucket, key, req, {
    contentLength: length,
    contentType: req.headers["content-type"],
    expectedSha256: t.auth.payloadSha256,
    expectedMd5Base64: typeof md5 === "string" ? md5 : undefined,
  });
  res.writeHead(200, { etag: meta.etag, "content-length": 0 }).end();
}

export async function getObject(ctx: HandlerContext, t: Target, key: string, req: IncomingMessage, res: ServerResponse, headOnly: boolean): Promise<void> {
  const meta = await ctx.store.head(t.bucket, key);
  if (!meta) throw new S3Error(404, "NoSuchKey", "The specified key does not exist.", { Key: key });
  const range = parseRange(req.headers.range, meta.size);
  const headers: Record<string, string | number> = {
    "content-type": meta.contentType,
    etag: meta.etag,
    "last-modified": new Date(meta.lastModified).toUTCString(),
    "accept-ranges": "bytes",
    "content-length": range ? range.end - range.start + 1 : meta.size,
  };
  if (range) headers["content-range"] = `bytes ${range.start}-${range.end}/${meta.size}`;
  if (headOnly) {
    res.writeHead(range ? 206 : 200, headers).end();
    return;
  }
  const opened = meta.size === 0 ? undefined : await ctx.store.open(t.bucket, key, range);
  if (meta.size !== 0 && !opened) throw new S3Error(404, "NoSuchKey", "The specified key does not exist.", { Key: key });
  if (opened && opened.meta.etag !== meta.etag) headers.etag = opened.meta.etag;
  res.writeHead(range ? 206 : 200, headers);
  if (!opened) {
    res.end();
    return;
  }
  let corrupt = false;
  if (ctx.state.corruptDownloads > 0) {
    ctx.state.corruptDownloads--;
    corrupt = true;
  }
  try {
    if (corrupt) await pipeline(opened.stream, corrupter(Number(headers["content-length"])), res);
    else await pipeline(opened.stream, res);
  } catch {
    // The client went away mid-download; nothing to answer.
  }
}

/** Flips every bit of the byte in the middle of the body: same length, different bytes. */
function corrupter(length: number): Transform {
  const target = Math.floor(length / 2);
  let offset = 0;
  return new Transform({
    transform(chunk: Buffer, _enc, done) {
      if (target >= offset && target < offset + chunk.length) {
        const copy = Buffer.from(chunk);
        copy[target - offset] = copy[target - offset]! ^ 0xff;
        chunk = copy;
      }
      offset += chunk.length;
      done(null, chunk);
    },
  });
}

/** A single `bytes=` range; multi-range and malformed headers are ignored, as S3 does. */
function parseRange(header: string | undefined, size: number): { start: number; end: number } | undefined {
  if (!header) return undefined;
  const m = /^bytes=(\d*)-(\d*)$/.exec(header.trim());
  if (!m || (m[1] === "" && m[2] === "")) return undefined;
  let start: number;
  let end: number;
  if (m[1] === "") {
    const suffix = Number(m[2]);
    if (suffix === 0) throw invalidRange(size);
    start = Math.max(0, size - suffix);
    end = size - 1;
  } else {
    start = Number(m[1]);
    end = m[2] === "" ? size - 1 : Math.min(Number(m[2]), size - 1);
    if (m[2] !== "" && Number(m[2]) < start) return undefined;
  }
  if (start >= size) throw invalidRange(size);
  return { start, end };
}

function invalidRange(size: number): S3Error {
  return new S3Error(416, "InvalidRange", "The requested range is not satisfiable", { ActualObjectSize: String(size) });
}

export async function listObjects(ctx: HandlerContext, t: Target, res: ServerResponse): Promise<void> {
  const q = new Map(t.query);
  if (q.get("list-type") !== "2") throw new S3Error(501, "NotImplemented", "Only ListObjectsV2 (list-type=2) is implemented by the sandbox");
  const prefix = q.get("prefix") ?? "";
  const delimiter = q.get("delimiter") || undefined;
  const maxRaw = q.get("max-keys");
  const maxKeys = maxRaw === undefined ? 1000 : Number(maxRaw);
  if (!Number.isInteger(maxKeys) || maxKeys < 0) throw new S3Error(400, "InvalidArgument", "Provided max-keys not an integer or within integer range", { ArgumentName: "max-keys" });
  const token = q.get("continuation-token");
  let after = q.get("start-after");
  if (token !== undefined) {
    after = Buffer.from(token, "base64url").toString("utf8");
    if (!token || Buffer.from(after, "utf8").toString("base64url") !== token) {
      throw new S3Error(400, "InvalidArgument", "The continuation token provided is incorrect", { ArgumentName: "continuation-token" });
    }
  }
  const result = await ctx.store.list(t.bucket, { prefix, delimiter, maxKeys: Math.min(maxKeys, 1000), startAfter: after });
  const el = (name: string, value: string | number | boolean): string => `<${name}>${xmlEscape(String(value))}</${name}>`;
  const parts = [
    el("Name", t.bucket),
    el("Prefix", prefix),
    delimiter ? el("Delimiter", delimiter) : "",
    el("KeyCount", result.objects.length + result.commonPrefixes.length),
    el("MaxKeys", Math.min(maxKeys, 1000)),
    el("IsTruncated", result.truncated),
    token !== undefined ? el("ContinuationToken", token) : "",
    result.truncated && result.lastReturned !== undefined ? el("NextContinuationToken", Buffer.from(result.lastReturned).toString("base64url")) : "",
    q.has("start-after") ? el("StartAfter", q.get("start-after")!) : "",
    ...result.objects.map((o: ObjectMeta) => `<Contents>${el("Key", o.key)}${el("LastModified", o.lastModified)}${el("ETag", o.etag)}${el("Size", o.size)}${el("StorageClass", "STANDARD")}</Contents>`),
    ...result.commonPrefixes.map((p) => `<CommonPrefixes>${el("Prefix", p)}</CommonPrefixes>`),
  ];
  const body = `${XML_HEADER}<ListBucketResult xmlns="http://s3.amazonaws.com/doc/2006-03-01/">${parts.join("")}</ListBucketResult>`;
  res.writeHead(200, { "content-type": "application/xml", "content-length": Buffer.byteLength(body) }).end(body);
}
