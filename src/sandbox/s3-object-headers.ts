import type { IncomingHttpHeaders } from "node:http";
import type { StoredChecksum } from "./s3-checksums.js";
import { S3Error } from "./s3-errors.js";

/**
 * What S3 keeps of an upload's headers and gives back on GET/HEAD: the content headers
 * (Content-Type, Cache-Control, Content-Disposition, Content-Encoding, Content-Language, Expires)
 * and user metadata (`x-amz-meta-*`, names lower-cased, at most 2 KB in all); the `response-*`
 * query overrides of GET; and the conditional headers of GET, HEAD, PUT and CopyObject.
 */

/** The stored, per-object part of the response headers. */
export interface ObjectHeaders {
  contentType: string;
  /** Content headers other than Content-Type, lower-case names. */
  headers: Record<string, string>;
  /** User metadata without the `x-amz-meta-` prefix. */
  userMeta: Record<string, string>;
}

const CONTENT_HEADERS = ["cache-control", "content-disposition", "content-encoding", "content-language", "expires"] as const;
const MAX_USER_META = 2048;

function one(headers: IncomingHttpHeaders, name: string): string | undefined {
  const v = headers[name];
  return Array.isArray(v) ? v.join(",") : v;
}

/** The object headers an upload sets (`aws-chunked` is the upload's own encoding, not the object's). */
export function objectHeadersOf(headers: IncomingHttpHeaders): ObjectHeaders {
  const out: ObjectHeaders = { contentType: one(headers, "content-type") || "application/octet-stream", headers: {}, userMeta: {} };
  for (const name of CONTENT_HEADERS) {
    let value = one(headers, name);
    if (name === "content-encoding" && value !== undefined) value = value.split(",").map((v) => v.trim()).filter((v) => v && v !== "aws-chunked").join(",");
    if (value) out.headers[name] = value;
  }
  let size = 0;
  for (const [name, value] of Object.entries(headers)) {
    if (!name.startsWith("x-amz-meta-") || value === undefined) continue;
    const key = name.slice("x-amz-meta-".length);
    const text = Array.isArray(value) ? value.join(",") : value;
    out.userMeta[key] = text;
    size += Buffer.byteLength(key) + Buffer.byteLength(text);
  }
  if (size > MAX_USER_META) {
    throw new S3Error(400, "MetadataTooLarge", "Your metadata headers exceed the maximum allowed metadata size", { Size: String(size), MaxSizeAllowed: String(MAX_USER_META) });
  }
  return out;
}

const OVERRIDES: Record<string, string> = {
  "response-content-type": "content-type",
  "response-content-language": "content-language",
  "response-expires": "expires",
  "response-cache-control": "cache-control",
  "response-content-disposition": "content-disposition",
  "response-content-encoding": "content-encoding",
};

/** The GET query parameters that override a response header. */
export const RESPONSE_OVERRIDE_PARAMS = Object.keys(OVERRIDES);

/** Response headers of an object: its stored ones, user metadata, the checksum when asked for, GET's overrides. */
export function objectResponseHeaders(meta: ObjectHeaders & { checksum?: StoredChecksum | undefined }, query: ReadonlyMap<string, string>, withChecksum: boolean): Record<string, string> {
  const out: Record<string, string> = { "content-type": meta.contentType, ...meta.headers };
  for (const [k, v] of Object.entries(meta.userMeta)) out[`x-amz-meta-${k}`] = v;
  if (withChecksum && meta.checksum) {
    out[`x-amz-checksum-${meta.checksum.algorithm}`] = meta.checksum.value;
    out["x-amz-checksum-type"] = "FULL_OBJECT";
  }
  for (const [param, header] of Object.entries(OVERRIDES)) {
    const v = query.get(param);
    if (v !== undefined) out[header] = v;
  }
  return out;
}

interface Validators {
  etag: string;
  lastModified: string;
}

const strip = (etag: string): string => etag.trim().replace(/^W\//, "").replace(/^"|"$/g, "");

function matches(list: string, etag: string): boolean {
  return list.split(",").some((e) => e.trim() === "*" || strip(e) === strip(etag));
}

/** Whole seconds: HTTP dates have no milliseconds. */
const seconds = (iso: string): number => Math.floor(Date.parse(iso) / 1000);

function since(value: string | undefined, lastModified: string): boolean | undefined {
  if (value === undefined) return undefined;
  const t = Date.parse(value);
  return Number.isNaN(t) ? undefined : seconds(lastModified) > Math.floor(t / 1000);
}

/**
 * GET/HEAD preconditions (RFC 7232 as S3 applies them): a failed If-Match or If-Unmodified-Since
 * is 412, a failed If-None-Match or If-Modified-Since is 304. `prefix` reads CopyObject's
 * `x-amz-copy-source-if-*` instead, where every failure is 412.
 */
export function checkPreconditions(headers: IncomingHttpHeaders, object: Validators, prefix = ""): 304 | undefined {
  const ifMatch = one(headers, `${prefix}if-match`);
  const ifNoneMatch = one(headers, `${prefix}if-none-match`);
  const modifiedSince = since(one(headers, `${prefix}if-modified-since`), object.lastModified);
  const unmodifiedSince = since(one(headers, `${prefix}if-unmodified-since`), object.lastModified);
  const failed = (): never => {
    throw new S3Error(412, "PreconditionFailed", "At least one of the pre-conditions you specified did not hold", { Condition: "If-Match" });
  };
  if (ifMatch !== undefined && !matches(ifMatch, object.etag)) failed();
  if (ifMatch === undefined && unmodifiedSince === true) failed();
  const notModified = (ifNoneMatch !== undefined && matches(ifNoneMatch, object.etag)) || (ifNoneMatch === undefined && modifiedSince === false);
  if (!notModified) return undefined;
  if (prefix) failed();
  return 304;
}

/** PutObject's conditional writes: `If-None-Match: *` (only if absent) and `If-Match: <etag>` (only that version). */
export function checkWritePreconditions(headers: IncomingHttpHeaders, existing: Validators | undefined, key: string): void {
  const ifNoneMatch = one(headers, "if-none-match");
  const ifMatch = one(headers, "if-match");
  if (ifNoneMatch !== undefined) {
    if (ifNoneMatch.trim() !== "*") throw new S3Error(501, "NotImplemented", "If-None-Match on PutObject only takes *", { Header: "If-None-Match" });
    if (existing) throw new S3Error(412, "PreconditionFailed", "At least one of the pre-conditions you specified did not hold", { Condition: "If-None-Match" });
  }
  if (ifMatch !== undefined) {
    if (!existing) throw new S3Error(404, "NoSuchKey", "The specified key does not exist.", { Key: key });
    if (!matches(ifMatch, existing.etag)) throw new S3Error(412, "PreconditionFailed", "At least one of the pre-conditions you specified did not hold", { Condition: "If-Match" });
  }
}
