import type { IncomingMessage, ServerResponse } from "node:http";
import { Readable } from "node:stream";
import { S3Error, XML_HEADER, xmlEscape } from "./s3-errors.js";
import type { HandlerContext, Target } from "./s3-handlers.js";
import { checkPreconditions, objectHeadersOf, type ObjectHeaders } from "./s3-object-headers.js";

/**
 * CopyObject: `PUT /bucket/key` with `x-amz-copy-source: [/]bucket/key` (URL-encoded). The bytes
 * are streamed from the source into a new object; its headers and metadata are the source's
 * (`x-amz-metadata-directive: COPY`, the default) or the request's (`REPLACE`). The answer is the
 * `CopyObjectResult` XML with the new ETag, as S3 sends it.
 */
export async function copyObject(ctx: HandlerContext, t: Target, key: string, req: IncomingMessage, res: ServerResponse): Promise<void> {
  const source = parseCopySource(String(t.headers["x-amz-copy-source"]));
  const directive = String(t.headers["x-amz-metadata-directive"] ?? "COPY").toUpperCase();
  if (directive !== "COPY" && directive !== "REPLACE") throw new S3Error(400, "InvalidArgument", "Unknown metadata directive.", { ArgumentName: "x-amz-metadata-directive" });
  if (Number(t.headers["content-length"] ?? 0) > 0 || t.headers["transfer-encoding"] !== undefined) {
    throw new S3Error(400, "InvalidRequest", "A CopyObject request has no body.");
  }
  await ctx.store.requireBucket(source.bucket);
  const meta = await ctx.store.head(source.bucket, source.key);
  if (!meta) throw new S3Error(404, "NoSuchKey", "The specified key does not exist.", { Key: source.key });
  checkPreconditions(t.headers, meta, "x-amz-copy-source-");
  if (source.bucket === t.bucket && source.key === key && directive === "COPY") {
    throw new S3Error(400, "InvalidRequest", "This copy request is illegal because it is trying to copy an object to itself without changing the object's metadata, storage class, website redirect location or encryption attributes.");
  }
  const object: ObjectHeaders = directive === "REPLACE" ? objectHeadersOf(t.headers) : { contentType: meta.contentType, headers: meta.headers ?? {}, userMeta: meta.userMeta ?? {} };
  const opened = meta.size === 0 ? undefined : await ctx.store.open(source.bucket, source.key);
  if (meta.size !== 0 && !opened) throw new S3Error(404, "NoSuchKey", "The specified key does not exist.", { Key: source.key });
  req.resume();
  const sourceChecksum = meta.checksum;
  const copied = await ctx.store.put(t.bucket, key, opened?.stream ?? Readable.from([]), {
    contentLength: meta.size,
    object,
    // The source's checksum travels with it, recomputed over the bytes actually copied.
    checksum: sourceChecksum && { algorithm: sourceChecksum.algorithm, expected: () => sourceChecksum.value },
  });
  const checksum = copied.checksum ? `<Checksum${copied.checksum.algorithm.toUpperCase()}>${copied.checksum.value}</Checksum${copied.checksum.algorithm.toUpperCase()}>` : "";
  const body = `${XML_HEADER}<CopyObjectResult><LastModified>${copied.lastModified}</LastModified><ETag>${xmlEscape(copied.etag)}</ETag>${checksum}</CopyObjectResult>`;
  res.writeHead(200, { "content-type": "application/xml", "content-length": Buffer.byteLength(body) }).end(body);
}

function parseCopySource(raw: string): { bucket: string; key: string } {
  let value = raw.trim();
  const q = value.indexOf("?");
  if (q !== -1) {
    const params = new URLSearchParams(value.slice(q + 1));
    const version = params.get("versionId");
    if (version !== null && version !== "null") throw new S3Error(501, "NotImplemented", "Copying a version (x-amz-copy-source ?versionId=) is not implemented by the sandbox", { Header: "x-amz-copy-source" });
    value = value.slice(0, q);
  }
  let decoded: string;
  try {
    decoded = decodeURIComponent(value.replace(/^\//, ""));
  } catch {
    throw invalidSource();
  }
  const slash = decoded.indexOf("/");
  if (slash <= 0 || slash === decoded.length - 1) throw invalidSource();
  return { bucket: decoded.slice(0, slash), key: decoded.slice(slash + 1) };
}

function invalidSource(): S3Error {
  return new S3Error(400, "InvalidArgument", "Copy Source must mention the source bucket and key: sourcebucket/sourcekey", { ArgumentName: "x-amz-copy-source" });
}

