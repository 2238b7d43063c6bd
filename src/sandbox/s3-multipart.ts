import type { IncomingMessage, ServerResponse } from "node:http";
import { readAllWithin } from "../lib/read-all.js";
import { requestedChecksum } from "./s3-checksums.js";
import { AwsChunkedDecoder } from "./s3-chunked.js";
import { S3Error, XML_HEADER, xmlEscape } from "./s3-errors.js";
import { bodyChecks, discardFailedUpload, holdPart, type HandlerContext, type Target } from "./s3-handlers.js";
import { objectHeadersOf } from "./s3-object-headers.js";
import type { UploadRecord } from "./s3-uploads.js";

/**
 * S3's multipart upload as the sandbox serves it: CreateMultipartUpload, UploadPart (plain,
 * aws-chunked or through a presigned part URL), CompleteMultipartUpload with the parts' ETags,
 * AbortMultipartUpload, ListParts and ListMultipartUploads, within the limits of `ctx.limits`
 * (S3's by default: parts of 5 MiB to 5 GiB except the last, at most 10,000 of them).
 */

const OWNER = "<ID>automna-sandbox</ID><DisplayName>automna-sandbox</DisplayName>";
const MAX_COMPLETE_BODY = 4 * 1024 * 1024;

const el = (name: string, value: string | number | boolean): string => `<${name}>${xmlEscape(String(value))}</${name}>`;

function sendXml(res: ServerResponse, root: string, inner: string): void {
  const body = `${XML_HEADER}<${root} xmlns="http://s3.amazonaws.com/doc/2006-03-01/">${inner}</${root}>`;
  res.writeHead(200, { "content-type": "application/xml", "content-length": Buffer.byteLength(body) }).end(body);
}

function upload(ctx: HandlerContext, t: Target, key: string): Promise<UploadRecord> {
  return ctx.uploads.get(t.bucket, key, t.query.get("uploadId") ?? "");
}

/** An integer query parameter within [min, max], or S3's InvalidArgument naming it. */
function intParam(t: Target, name: string, fallback: number, min: number, max: number): number {
  const raw = t.query.get(name);
  if (raw === undefined) return fallback;
  const n = Number(raw);
  if (!/^\d+$/.test(raw) || n < min || n > max) throw new S3Error(400, "InvalidArgument", `${name} must be an integer between ${min} and ${max}`, { ArgumentName: name, ArgumentValue: raw });
  return n;
}

export async function createMultipartUpload(ctx: HandlerContext, t: Target, key: string, res: ServerResponse): Promise<void> {
  const record = await ctx.uploads.create(t.bucket, key, objectHeadersOf(t.headers));
  sendXml(res, "InitiateMultipartUploadResult", el("Bucket", t.bucket) + el("Key", key) + el("UploadId", record.uploadId));
}

export async function uploadPart(ctx: HandlerContext, t: Target, key: string, req: IncomingMessage, res: ServerResponse): Promise<void> {
  const partNumber = intParam(t, "partNumber", 0, 1, ctx.limits.maxParts);
  const record = await upload(ctx, t, key);
  const chunked = t.auth.streaming !== undefined;
  const raw = chunked ? t.headers["x-amz-decoded-content-length"] : t.headers["content-length"];
  if (raw === undefined) throw new S3Error(411, "MissingContentLength", "You must provide the Content-Length HTTP header.");
  const length = Number(raw);
  if (!Number.isSafeInteger(length) || length < 0) throw new S3Error(400, "InvalidArgument", "Content-Length is not a valid number");
  if (length > ctx.limits.maxPartBytes) {
    throw new S3Error(400, "EntityTooLarge", "Your proposed upload exceeds the maximum allowed size", { ProposedSize: String(length), MaxSizeAllowed: String(ctx.limits.maxPartBytes) });
  }
  const wanted = requestedChecksum(t.headers);
  if (/100-continue/i.test(String(t.headers.expect ?? ""))) res.writeContinue();
  await discardFailedUpload(ctx, req);
  const decoder = t.auth.streaming ? new AwsChunkedDecoder(t.auth.streaming.signing) : undefined;
  if (decoder) req.once("error", (error) => decoder.destroy(error));
  const body = await holdPart(ctx, req, decoder ? req.pipe(decoder) : req);
  const got = await ctx.store.receive(body, { contentLength: length, ...bodyChecks(t, wanted, decoder) });
  const part = await ctx.uploads.putPart(record, partNumber, got);
  const headers: Record<string, string | number> = { etag: part.etag, "content-length": 0 };
  if (got.checksum) headers[`x-amz-checksum-${got.checksum.algorithm}`] = got.checksum.value;
  res.writeHead(200, headers).end();
}

/** The `<Part>` list of a CompleteMultipartUpload body. */
function requestedParts(xml: string): { partNumber: number; etag: string }[] {
  if (!/<CompleteMultipartUpload[\s>]/.test(xml)) throw new S3Error(400, "MalformedXML", "The XML you provided was not well-formed or did not validate against our published schema.");
  const decode = (v: string): string => v.replace(/&(lt|gt|amp|apos|quot);/g, (_all, e: string) => ({ lt: "<", gt: ">", amp: "&", apos: "'", quot: '"' })[e]!);
  return [...xml.matchAll(/<Part>([\s\S]*?)<\/Part>/g)].map(([, block]) => {
    const n = /<PartNumber>\s*(\d+)\s*<\/PartNumber>/.exec(block!)?.[1];
    const etag = /<ETag>([\s\S]*?)<\/ETag>/.exec(block!)?.[1];
    if (n === undefined || etag === undefined) throw new S3Error(400, "MalformedXML", "The XML you provided was not well-formed or did not validate against our published schema.");
    return { partNumber: Number(n), etag: decode(etag) };
  });
}

export async function completeMultipartUpload(ctx: HandlerContext, t: Target, key: string, req: IncomingMessage, res: ServerResponse): Promise<void> {
  const record = await upload(ctx, t, key);
  const body = await readAllWithin(req, MAX_COMPLETE_BODY);
  if (!body) throw new S3Error(400, "MalformedXML", "The XML you provided was not well-formed or did not validate against our published schema.");
  const xml = body.toString("utf8");
  const meta = await ctx.uploads.complete(record, requestedParts(xml), ctx.limits);
  const location = `http://${String(t.headers.host ?? "localhost")}/${t.bucket}/${key}`;
  sendXml(res, "CompleteMultipartUploadResult", el("Location", location) + el("Bucket", t.bucket) + el("Key", key) + el("ETag", meta.etag));
}

export async function abortMultipartUpload(ctx: HandlerContext, t: Target, key: string, res: ServerResponse): Promise<void> {
  await ctx.uploads.abort(await upload(ctx, t, key));
  res.writeHead(204).end();
}

export async function listParts(ctx: HandlerContext, t: Target, key: string, res: ServerResponse): Promise<void> {
  const record = await upload(ctx, t, key);
  const maxParts = intParam(t, "max-parts", 1000, 0, 1000);
  const marker = intParam(t, "part-number-marker", 0, 0, ctx.limits.maxParts);
  const after = (await ctx.uploads.parts(record)).filter((p) => p.partNumber > marker);
  const page = after.slice(0, maxParts);
  const truncated = after.length > page.length;
  sendXml(res, "ListPartsResult", [
    el("Bucket", t.bucket), el("Key", key), el("UploadId", record.uploadId),
    el("PartNumberMarker", marker), el("NextPartNumberMarker", page.at(-1)?.partNumber ?? marker), el("MaxParts", maxParts), el("IsTruncated", truncated),
    ...page.map((p) => `<Part>${el("PartNumber", p.partNumber)}${el("LastModified", p.lastModified)}${el("ETag", p.etag)}${el("Size", p.size)}</Part>`),
    `<Initiator>${OWNER}</Initiator><Owner>${OWNER}</Owner>`, el("StorageClass", "STANDARD"),
  ].join(""));
}

export async function listMultipartUploads(ctx: HandlerContext, t: Target, res: ServerResponse): Promise<void> {
  const prefix = t.query.get("prefix") ?? "";
  const maxUploads = intParam(t, "max-uploads", 1000, 0, 1000);
  const keyMarker = t.query.get("key-marker") ?? "";
  const idMarker = t.query.get("upload-id-marker") ?? "";
  const all = (await ctx.uploads.list(t.bucket)).filter((u) => u.key.startsWith(prefix));
  // After the marker: later keys, and with an upload-id-marker the key's own uploads after that one.
  const markerAt = idMarker ? all.findIndex((u) => u.key === keyMarker && u.uploadId === idMarker) : -1;
  const after = all.filter((u, i) => (keyMarker === "" ? true : Buffer.compare(Buffer.from(u.key), Buffer.from(keyMarker)) > 0 || (markerAt !== -1 && u.key === keyMarker && i > markerAt)));
  const page = after.slice(0, maxUploads);
  const truncated = after.length > page.length;
  const last = page.at(-1);
  sendXml(res, "ListMultipartUploadsResult", [
    el("Bucket", t.bucket), el("KeyMarker", keyMarker), el("UploadIdMarker", idMarker),
    truncated && last ? el("NextKeyMarker", last.key) + el("NextUploadIdMarker", last.uploadId) : "",
    el("Prefix", prefix), el("MaxUploads", maxUploads), el("IsTruncated", truncated),
    ...page.map((u) => `<Upload>${el("Key", u.key)}${el("UploadId", u.uploadId)}<Initiator>${OWNER}</Initiator><Owner>${OWNER}</Owner>${el("StorageClass", "STANDARD")}${el("Initiated", u.initiated)}</Upload>`),
  ].join(""));
}
