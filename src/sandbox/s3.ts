import { randomBytes } from "node:crypto";
import { mkdtemp, rm } from "node:fs/promises";
import { createServer, type IncomingHttpHeaders, type IncomingMessage, type ServerResponse } from "node:http";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { settingsAsEnv } from "../lib/config-keys.js";
import { parseQueryPairs, uriEncode } from "../lib/sigv4.js";
import { verifyRequest } from "./s3-auth.js";
import { S3Error, errorXml } from "./s3-errors.js";
import { copyObject } from "./s3-copy.js";
import { getObject, listObjects, putObject, type HandlerContext, type Target } from "./s3-handlers.js";
import { abortMultipartUpload, completeMultipartUpload, createMultipartUpload, listMultipartUploads, listParts, uploadPart } from "./s3-multipart.js";
import { classify, type ImplementedOperation } from "./s3-operations.js";
import { ObjectStore } from "./s3-store.js";
import { S3_LIMITS, UploadStore, type S3Limits } from "./s3-uploads.js";
import { closeServer, listen } from "./util.js";

/**
 * An S3-compatible object store on loopback for the sandbox: path-style PUT (plain and aws-chunked,
 * with user metadata and checksums), multipart uploads (s3-multipart.ts), CopyObject,
 * GET/HEAD/DELETE of objects, ListObjectsV2, bucket create/head/delete, SigV4 header and
 * presigned-URL authentication with S3's error XML, data streamed to a directory on disk, S3's
 * size limits (lowerable for tests); every other operation answers S3's 501 NotImplemented
 * (s3-operations.ts). Fault injection corrupts downloads or fails uploads so the
 * migration's verification can be tested against a transfer that went wrong.
 */

export interface S3Credentials {
  accessKeyId: string;
  secretAccessKey: string;
}

export interface S3SandboxOptions {
  /** Where objects live; a temp directory (removed on close) when omitted. */
  dataDir?: string;
  /** 0 (default) picks a free port. */
  port?: number;
  /** The region requests must be scoped to (automna's storage.region default is "auto"). */
  region?: string;
  /** Buckets created at start; default ["automna"]. */
  buckets?: string[];
  /** Accepted key pairs; one random pair when omitted. */
  credentials?: S3Credentials[];
  /** Server clock for expiry and skew checks. */
  now?: () => Date;
  /** S3's upload limits (single PUT 5 GiB, parts 5 MiB..5 GiB, 10,000 parts), lowered for tests. */
  limits?: Partial<S3Limits>;
}

/** Programmatic fault injection, for the migration's "corrupted transfer" tests. */
export interface S3Faults {
  /** The next `n` object downloads (GET) have one byte flipped in the middle of the body. */
  corruptNextDownloads(n: number): void;
  /** The next `n` uploads (PUT) are read and discarded, then answered with `status` (500). */
  failNextUploads(n: number, status?: number): void;
  /** The next `n` UploadParts are answered; later ones wait (their bodies unread) until releaseParts or their client goes away. */
  holdPartsAfter(n: number): void;
  /** Lets held UploadParts (and later ones) through. */
  releaseParts(): void;
  reset(): void;
  readonly pending: { corruptDownloads: number; failUploads: number; heldParts: number };
}

export interface S3RequestRecord {
  method: string;
  bucket: string;
  key: string | undefined;
  /** 0 when the client went away before the answer was complete (an upload cut short). */
  status: number;
  presigned: boolean;
  /** The operation, for the ones a method and key do not name (multipart). */
  operation?: string;
  /** UploadPart's part number. */
  partNumber?: number;
}

export interface S3SandboxHandle {
  /** Endpoint for storage.endpoint, e.g. http://127.0.0.1:41234 (path-style). */
  url: string;
  region: string;
  /** The first bucket created at start. */
  bucket: string;
  accessKeyId: string;
  secretAccessKey: string;
  dataDir: string;
  faults: S3Faults;
  /** The upload limits in force. */
  limits: S3Limits;
  /** Every request answered (no query strings, so no signatures). */
  requests: S3RequestRecord[];
  /** The storage.* settings that point automna here (for config setMany). */
  config: Record<string, string>;
  /** The same as environment variables (for runCli({ env }) and child processes). */
  env: Record<string, string>;
  close(): Promise<void>;
}

const MAX_LOG = 10_000;

export async function startS3Sandbox(options: S3SandboxOptions = {}): Promise<S3SandboxHandle> {
  const ownDir = options.dataDir === undefined;
  const dataDir = options.dataDir ?? (await mkdtemp(join(tmpdir(), "automna-s3-")));
  const buckets = options.buckets ?? ["automna"];
  const store = new ObjectStore(dataDir);
  await store.init(buckets);
  const limits = { ...S3_LIMITS, ...options.limits };
  const credentials = options.credentials ?? [
    { accessKeyId: `AKSANDBOX${randomBytes(6).toString("hex").toUpperCase()}`, secretAccessKey: randomBytes(30).toString("base64url") },
  ];
  const secrets = new Map(credentials.map((c) => [c.accessKeyId, c.secretAccessKey]));
  const state: HandlerContext["state"] = { corruptDownloads: 0, failUploads: 0, failStatus: 500, heldParts: [] };
  const releaseParts = (): void => {
    state.partsBeforeHold = undefined;
    for (const release of [...state.heldParts]) release();
  };
  const requests: S3RequestRecord[] = [];
  const ctx: HandlerContext = {
    store,
    secrets,
    region: options.region ?? "auto",
    now: options.now ?? (() => new Date()),
    limits,
    uploads: new UploadStore(dataDir, store),
    state,
    requests,
  };
  const server = createServer((req, res) => void handle(ctx, req, res));
  // Answer `Expect: 100-continue` only after authentication, so a rejected upload never sends its body.
  server.on("checkContinue", (req, res) => void handle(ctx, req, res));
  const port = await listen(server, options.port ?? 0, "127.0.0.1");
  const url = `http://127.0.0.1:${port}`;
  const bucket = buckets[0] ?? "";
  const config = { "storage.endpoint": url, "storage.bucket": bucket, "storage.region": ctx.region, "storage.accessKeyId": credentials[0]!.accessKeyId, "storage.secretAccessKey": credentials[0]!.secretAccessKey };
  return {
    url,
    config,
    env: settingsAsEnv(config),
    region: ctx.region,
    bucket,
    accessKeyId: credentials[0]!.accessKeyId,
    secretAccessKey: credentials[0]!.secretAccessKey,
    dataDir,
    requests,
    limits,
    faults: {
      corruptNextDownloads: (n) => void (state.corruptDownloads = n),
      failNextUploads: (n, status = 500) => {
        state.failUploads = n;
        state.failStatus = status;
      },
      holdPartsAfter: (n) => void (state.partsBeforeHold = n),
      releaseParts,
      reset: () => {
        state.corruptDownloads = 0;
        state.failUploads = 0;
        releaseParts();
      },
      get pending() {
        return { corruptDownloads: state.corruptDownloads, failUploads: state.failUploads, heldParts: state.heldParts.length };
      },
    },
    close: async () => {
      await closeServer(server);
      if (ownDir) await rm(dataDir, { recursive: true, force: true });
    },
  };
}

async function handle(ctx: HandlerContext, req: IncomingMessage, res: ServerResponse): Promise<void> {
  const requestId = randomBytes(8).toString("hex").toUpperCase();
  res.setHeader("x-amz-request-id", requestId);
  res.setHeader("server", "automna-sandbox-s3");
  const method = req.method ?? "GET";
  const rawUrl = req.url ?? "/";
  const qi = rawUrl.indexOf("?");
  const rawPath = qi === -1 ? rawUrl : rawUrl.slice(0, qi);
  let bucket = "";
  let key: string | undefined;
  let presigned = false;
  let multipart: { operation: string; partNumber?: number } | undefined;
  // "close" fires for finished and aborted responses alike ("finish" can be skipped when the client hangs up first).
  // The status is the one the handler answered with (end() called), even when the client hung up before the
  // answer was flushed: on a busy machine a part stored and answered 200 could otherwise be logged as 0.
  res.once("close", () => {
    if (ctx.requests.length >= MAX_LOG) ctx.requests.shift();
    ctx.requests.push({ method, bucket, key, status: res.writableEnded ? res.statusCode : 0, presigned, ...multipart });
  });
  try {
    let path: string;
    try {
      path = decodeURIComponent(rawPath);
    } catch {
      throw new S3Error(400, "InvalidURI", "Couldn't parse the specified URI.");
    }
    const slash = path.indexOf("/", 1);
    bucket = slash === -1 ? path.slice(1) : path.slice(1, slash);
    key = slash === -1 ? undefined : path.slice(slash + 1);
    const query = parseQueryPairs(qi === -1 ? "" : rawUrl.slice(qi + 1));
    const auth = verifyRequest({
      method,
      canonicalUri: uriEncode(path, true),
      query,
      headers: req.headers,
      now: ctx.now(),
      region: ctx.region,
      secrets: ctx.secrets,
    });
    presigned = auth.presigned;
    if (!bucket) throw new S3Error(501, "NotImplemented", "ListBuckets is not implemented by the sandbox");
    const headers = withHoisted(req.headers, query);
    const level = key === undefined || key === "" ? "bucket" : "object";
    const { op, query: params } = classify(method, level, query, headers);
    if (MULTIPART.has(op)) multipart = { operation: op, ...(op === "UploadPart" ? { partNumber: Number(params.get("partNumber")) } : {}) };
    const target: Target = { bucket, key, query: params, headers, auth };
    await run(ctx, op, target, req, res);
  } catch (error) {
    sendError(req, res, method, error, requestId, rawPath);
  }
}

/**
 * A presigned URL carries x-amz-* headers in its query; S3 applies them as headers (metadata,
 * and the refusals). Checksums in the query are left out: real S3 ignores them, and the JS SDK
 * presigns a CRC32 of the empty body into every PutObject URL (aws-sdk-js-v3 since 3.729.0).
 */
function withHoisted(headers: IncomingHttpHeaders, query: ReadonlyArray<readonly [string, string]>): IncomingHttpHeaders {
  const hoisted = query.filter(([k]) => /^x-amz-/i.test(k) && !/^x-amz-(algorithm|credential|date|expires|signedheaders|signature|security-token|content-sha256|checksum-|sdk-checksum-)/i.test(k));
  if (hoisted.length === 0) return headers;
  return { ...headers, ...Object.fromEntries(hoisted.map(([k, v]) => [k.toLowerCase(), v])) };
}

const MULTIPART = new Set<ImplementedOperation>(["CreateMultipartUpload", "UploadPart", "CompleteMultipartUpload", "AbortMultipartUpload", "ListParts", "ListMultipartUploads"]);

async function run(ctx: HandlerContext, op: ImplementedOperation, t: Target, req: IncomingMessage, res: ServerResponse): Promise<void> {
  const key = t.key!;
  if (t.key !== undefined && Buffer.byteLength(key) > 1024) throw new S3Error(400, "KeyTooLongError", "Your key is too long");
  if (op !== "CreateBucket") await ctx.store.requireBucket(t.bucket);
  switch (op) {
    case "ListObjectsV2":
      return listObjects(ctx, t, res);
    case "ListMultipartUploads":
      return listMultipartUploads(ctx, t, res);
    case "CreateMultipartUpload":
      return createMultipartUpload(ctx, t, key, res);
    case "UploadPart":
      return uploadPart(ctx, t, key, req, res);
    case "CompleteMultipartUpload":
      return completeMultipartUpload(ctx, t, key, req, res);
    case "AbortMultipartUpload":
      return abortMultipartUpload(ctx, t, key, res);
    case "ListParts":
      return listParts(ctx, t, key, res);
    case "HeadBucket":
      res.writeHead(200, { "x-amz-bucket-region": ctx.region }).end();
      return;
    case "CreateBucket":
      if (!(await ctx.store.createBucket(t.bucket))) {
        throw new S3Error(409, "BucketAlreadyOwnedByYou", "Your previous request to create the named bucket succeeded and you already own it.", { BucketName: t.bucket });
      }
      res.writeHead(200, { location: `/${t.bucket}` }).end();
      return;
    case "DeleteBucket":
      await ctx.store.deleteBucket(t.bucket);
      res.writeHead(204).end();
      return;
    case "PutObject":
      return putObject(ctx, t, key, req, res);
    case "CopyObject":
      return copyObject(ctx, t, key, req, res);
    case "GetObject":
    case "HeadObject":
      return getObject(ctx, t, key, req, res, op === "HeadObject");
    case "DeleteObject":
      await ctx.store.delete(t.bucket, key);
      res.writeHead(204).end();
      return;
  }
}

function sendError(req: IncomingMessage, res: ServerResponse, method: string, error: unknown, requestId: string, resource: string): void {
  const s3 = error instanceof S3Error ? error : new S3Error(500, "InternalError", "We encountered an internal error. Please try again.");
  if (res.headersSent || res.destroyed) {
    res.destroy();
    return;
  }
  const body = method === "HEAD" ? "" : errorXml(s3, requestId, resource);
  const headers: Record<string, string | number> = { "content-type": "application/xml", "content-length": Buffer.byteLength(body) };
  // A body we did not read would otherwise be parsed as the next request on this connection.
  if (!req.complete) headers.connection = "close";
  res.writeHead(s3.status, headers).end(body);
  if (!req.complete) req.resume();
}
