import type { IncomingHttpHeaders, IncomingMessage, ServerResponse } from "node:http";
import { Readable, Transform } from "node:stream";
import { pipeline } from "node:stream/promises";
import { uriEncode } from "../lib/sigv4.js";
import type { VerifiedRequest } from "./s3-auth.js";
import { requestedChecksum } from "./s3-checksums.js";
import { AwsChunkedDecoder } from "./s3-chunked.js";
import { S3Error, XML_HEADER, xmlEscape } from "./s3-errors.js";
import { checkPreconditions, checkWritePreconditions, objectHeadersOf, objectResponseHeaders } from "./s3-object-headers.js";
import type { ObjectMeta, ObjectStore, PutOptions } from "./s3-store.js";
import type { S3Limits, UploadStore } from "./s3-uploads.js";
import type { S3RequestRecord } from "./s3.js";

/**
 * The S3 stand-in's object operations: streaming PUT (plain or aws-chunked, with checksums and
 * metadata) and GET (ranges, preconditions, faults), ListObjectsV2. CopyObject is in s3-copy.ts.
 */

export interface HandlerContext {
  store: ObjectStore;
  secrets: ReadonlyMap<string, string>;
  region: string;
  now: () => Date;
  limits: S3Limits;
  uploads: UploadStore;
  state: {
    corruptDownloads: number; failUploads: number; failStatus: number;
    /** UploadParts still let through before the rest are held (faults.holdPartsAfter); undefined: none held. */
    partsBeforeHold?: number | undefined;
    heldParts: (() => void)[];
  };
  requests: S3RequestRecord[];
}

export interface Target {
  bucket: string;
  key: string | undefined;
  query: ReadonlyMap<string, string>;
  /** The request's headers plus x-amz-* parameters hoisted into a presigned URL's query. */
  headers: IncomingHttpHeaders;
  auth: VerifiedRequest;
}

/** Content-Length of the object an upload carries: the decoded length of an aws-chunked body. */
function uploadLength(ctx: HandlerContext, t: Target): number {
  const chunked = t.auth.streaming !== undefined;
  const raw = chunked ? t.headers["x-amz-decoded-content-length"] : t.headers["content-length"];
  if (raw === undefined) {
    throw new S3Error(411, "MissingContentLength", chunked ? "An aws-chunked upload must send x-amz-decoded-content-length." : "You must provide the Content-Length HTTP header.");
  }
  const length = Number(raw);
  if (!Number.isSafeInteger(length) || length < 0) throw new S3Error(400, "InvalidArgument", "Content-Length is not a valid number");
  if (length > ctx.limits.maxPutBytes) {
    throw new S3Error(400, "EntityTooLarge", "Your proposed upload exceeds the maximum allowed size", { ProposedSize: String(length), MaxSizeAllowed: String(ctx.limits.maxPutBytes) });
  }
  return length;
}

export async function putObject(ctx: HandlerContext, t: Target, key: string, req: IncomingMessage, res: ServerResponse): Promise<void> {
  const length = uploadLength(ctx, t);
  const object = objectHeadersOf(t.headers);
  const wanted = requestedChecksum(t.headers);
  if (wanted?.trailer && !t.auth.streaming?.trailer) throw new S3Error(400, "InvalidRequest", "x-amz-trailer is only valid with a STREAMING-...-TRAILER x-amz-content-sha256.");
  checkWritePreconditions(t.headers, await ctx.store.head(t.bucket, key), key);
  if (/100-continue/i.test(String(t.headers.expect ?? ""))) res.writeContinue();
  await discardFailedUpload(ctx, req);
  const decoder = t.auth.streaming ? new AwsChunkedDecoder(t.auth.streaming.signing) : undefined;
  const body = decoder ? req.pipe(decoder) : req;
  // A socket error on req ends the decoder too, so the store sees the upload fail.
  if (decoder) req.once("error", (error) => decoder.destroy(error));
  const meta = await ctx.store.put(t.bucket, key, body, { contentLength: length, object, ...bodyChecks(t, wanted, decoder) });
  const headers: Record<string, string | number> = { etag: meta.etag, "content-length": 0 };
  if (meta.checksum) headers[`x-amz-checksum-${meta.checksum.algorithm}`] = meta.checksum.value;
  res.writeHead(200, headers).end();
}

/** What an upload's body is checked against: the signed sha256, Content-MD5, an x-amz-checksum-* value or trailer. */
export function bodyChecks(t: Target, wanted: ReturnType<typeof requestedChecksum>, decoder: AwsChunkedDecoder | undefined): Omit<PutOptions, "object" | "contentLength"> {
  const md5 = t.headers["content-md5"];
  return {
    expectedSha256: t.auth.payloadSha256,
    expectedMd5Base64: typeof md5 === "string" ? md5 : undefined,
    checksum: wanted && {
      algorithm: wanted.algorithm,
      expected: () => {
        const value = wanted.value ?? decoder?.trailers.get(wanted.trailer ?? "");
        if (value === undefined) throw new S3Error(400, "InvalidRequest", `The upload declared the trailer ${wanted.trailer} but did not send it.`);
        return value;
      },
    },
  };
}

/**
 * An UploadPart held (faults.holdPartsAfter): its body is read whole, then it waits for
 * faults.releaseParts before it is stored and answered. One whose client goes away meanwhile stops
 * being held and fails, as a part whose sender died does; nothing of it is stored.
 */
export async function holdPart(ctx: HandlerContext, req: IncomingMessage, body: Readable): Promise<Readable> {
  const left = ctx.state.partsBeforeHold;
  if (left === undefined) return body;
  if (left > 0) {
    ctx.state.partsBeforeHold = left - 1;
    return body;
  }
  const chunks: Buffer[] = [];
  for await (const chunk of body) chunks.push(chunk as Buffer);
  const clientGone = await new Promise<boolean>((resolve) => {
    const held = ctx.state.heldParts;
    const settle = (gone: boolean) => (): void => {
      const i = held.indexOf(release);
      if (i !== -1) held.splice(i, 1);
      resolve(gone);
    };
    const release = settle(false);
    held.push(release);
    if (req.socket.destroyed) settle(true)();
    else req.socket.once("close", settle(true));
  });
  if (clientGone) throw new S3Error(400, "IncompleteBody", "The client went away before the part was stored (held by faults.holdPartsAfter).");
  return Readable.from(chunks);
}

/** An injected upload failure (faults.failNextUploads): the body is read whole, then refused. */
export async function discardFailedUpload(ctx: HandlerContext, req: IncomingMessage): Promise<void> {
  if (ctx.state.failUploads <= 0) return;
  ctx.state.failUploads--;
  // Read the whole body first, like a store that failed while committing it.
  await pipeline(req, new Transform({ transform: (_c, _e, done) => done() }));
  throw new S3Error(ctx.state.failStatus, ctx.state.failStatus === 503 ? "SlowDown" : "InternalError", "We encountered an internal error. Please try again. (injected)");
}

export async function getObject(ctx: HandlerContext, t: Target, key: string, req: IncomingMessage, res: ServerResponse, headOnly: boolean): Promise<void> {
  const meta = await ctx.store.head(t.bucket, key);
  if (!meta) throw new S3Error(404, "NoSuchKey", "The specified key does not exist.", { Key: key });
  const validators = { etag: meta.etag, "last-modified": new Date(meta.lastModified).toUTCString() };
  if (checkPreconditions(t.headers, meta) === 304) {
    res.writeHead(304, validators).end();
    return;
  }
  const range = parseRange(req.headers.range, meta.size);
  const stored = { contentType: meta.contentType, headers: meta.headers ?? {}, userMeta: meta.userMeta ?? {}, checksum: meta.checksum };
  const headers: Record<string, string | number> = {
    ...objectResponseHeaders(stored, t.query, !range && /^enabled$/i.test(String(t.headers["x-amz-checksum-mode"] ?? ""))),
    ...validators,
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
  const q = t.query;
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
  const encoding = q.get("encoding-type");
  if (encoding !== undefined && encoding !== "url") throw new S3Error(400, "InvalidArgument", "Invalid Encoding Method specified in Request", { ArgumentName: "encoding-type" });
  // With encoding-type=url, keys and prefixes come URL-encoded (XML 1.0 cannot carry every key).
  const name = (value: string): string => (encoding ? uriEncode(value, true) : value);
  const result = await ctx.store.list(t.bucket, { prefix, delimiter, maxKeys: Math.min(maxKeys, 1000), startAfter: after });
  const el = (name: string, value: string | number | boolean): string => `<${name}>${xmlEscape(String(value))}</${name}>`;
  const parts = [
    el("Name", t.bucket),
    el("Prefix", name(prefix)),
    delimiter ? el("Delimiter", name(delimiter)) : "",
    encoding ? el("EncodingType", encoding) : "",
    el("KeyCount", result.objects.length + result.commonPrefixes.length),
    el("MaxKeys", Math.min(maxKeys, 1000)),
    el("IsTruncated", result.truncated),
    token !== undefined ? el("ContinuationToken", token) : "",
    result.truncated && result.lastReturned !== undefined ? el("NextContinuationToken", Buffer.from(result.lastReturned).toString("base64url")) : "",
    q.has("start-after") ? el("StartAfter", name(q.get("start-after")!)) : "",
    ...result.objects.map((o: ObjectMeta) => `<Contents>${el("Key", name(o.key))}${el("LastModified", o.lastModified)}${el("ETag", o.etag)}${el("Size", o.size)}${el("StorageClass", "STANDARD")}</Contents>`),
    ...result.commonPrefixes.map((p) => `<CommonPrefixes>${el("Prefix", name(p))}</CommonPrefixes>`),
  ];
  const body = `${XML_HEADER}<ListBucketResult xmlns="http://s3.amazonaws.com/doc/2006-03-01/">${parts.join("")}</ListBucketResult>`;
  res.writeHead(200, { "content-type": "application/xml", "content-length": Buffer.byteLength(body) }).end(body);
}
