import { createHash, createHmac, timingSafeEqual } from "node:crypto";

/**
 * AWS Signature Version 4 primitives shared by the presigner (client side) and the sandbox's
 * S3 stand-in (server side), so both build the canonical request from one definition. Written
 * from the public description of the algorithm: canonical request -> string to sign -> HMAC chain
 * over date, region, service and "aws4_request".
 */

export const SIGV4_ALGORITHM = "AWS4-HMAC-SHA256";
export const UNSIGNED_PAYLOAD = "UNSIGNED-PAYLOAD";
/** sha256 of the empty string: the payload hash of a request without a body. */
export const EMPTY_SHA256 = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";
/** The longest a presigned URL may live, as S3 documents it (7 days). */
export const MAX_PRESIGN_SECONDS = 604_800;

/**
 * RFC 3986 encoding as SigV4 wants it: every byte except A-Z a-z 0-9 - _ . ~ becomes %XX with
 * upper-case hex; `/` is kept when encoding an object key path.
 */
export function uriEncode(value: string, keepSlash = false): string {
  let out = "";
  for (const byte of Buffer.from(value, "utf8")) {
    const ch = String.fromCharCode(byte);
    if (/[A-Za-z0-9\-_.~]/.test(ch) || (keepSlash && ch === "/")) out += ch;
    else out += `%${byte.toString(16).toUpperCase().padStart(2, "0")}`;
  }
  return out;
}

/** Query pairs sorted by encoded name then value, joined as SigV4's canonical query string. */
export function canonicalQuery(pairs: ReadonlyArray<readonly [string, string]>): string {
  return pairs
    .map(([k, v]) => [uriEncode(k), uriEncode(v)] as const)
    .sort((a, b) => (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : a[1] < b[1] ? -1 : a[1] > b[1] ? 1 : 0))
    .map(([k, v]) => `${k}=${v}`)
    .join("&");
}

/** Header values are trimmed and inner runs of spaces collapsed before signing. */
export function canonicalHeaderValue(value: string): string {
  return value.trim().replace(/\s+/g, " ");
}

export interface CanonicalRequestInput {
  method: string;
  /** The already-encoded canonical URI (S3: each key segment encoded once, `/` kept). */
  canonicalUri: string;
  query: ReadonlyArray<readonly [string, string]>;
  /** Lower-case header name -> value, for exactly the signed headers. */
  headers: Readonly<Record<string, string>>;
  signedHeaders: readonly string[];
  payloadHash: string;
}

export function canonicalRequest(input: CanonicalRequestInput): string {
  const signed = [...input.signedHeaders].map((h) => h.toLowerCase()).sort();
  const headerLines = signed.map((h) => `${h}:${canonicalHeaderValue(input.headers[h] ?? "")}\n`).join("");
  return [input.method.toUpperCase(), input.canonicalUri, canonicalQuery(input.query), headerLines, signed.join(";"), input.payloadHash].join("\n");
}

/** `20130524T000000Z` from a Date. */
export function amzDate(date: Date): string {
  return date.toISOString().replace(/[-:]/g, "").replace(/\.\d{3}/, "");
}

/** Parses `20130524T000000Z`; undefined when malformed. */
export function parseAmzDate(value: string): Date | undefined {
  const m = /^(\d{4})(\d{2})(\d{2})T(\d{2})(\d{2})(\d{2})Z$/.exec(value);
  if (!m) return undefined;
  const date = new Date(Date.UTC(Number(m[1]), Number(m[2]) - 1, Number(m[3]), Number(m[4]), Number(m[5]), Number(m[6])));
  return Number.isNaN(date.getTime()) ? undefined : date;
}

export function credentialScope(date: string, region: string, service: string): string {
  return `${date}/${region}/${service}/aws4_request`;
}

export function sha256Hex(data: string | Buffer): string {
  return createHash("sha256").update(data).digest("hex");
}

export function stringToSign(timestamp: string, scope: string, canonical: string): string {
  return [SIGV4_ALGORITHM, timestamp, scope, sha256Hex(canonical)].join("\n");
}

function hmac(key: Buffer | string, data: string): Buffer {
  return createHmac("sha256", key).update(data, "utf8").digest();
}

/** The derived signing key: HMAC chain over date, region, service and "aws4_request". */
export function signingKey(secretAccessKey: string, date: string, region: string, service: string): Buffer {
  return hmac(hmac(hmac(hmac(`AWS4${secretAccessKey}`, date), region), service), "aws4_request");
}

export function signature(secretAccessKey: string, date: string, region: string, service: string, toSign: string): string {
  return createHmac("sha256", signingKey(secretAccessKey, date, region, service)).update(toSign, "utf8").digest("hex");
}

/** Constant-time comparison of two hex signatures. */
export function signaturesEqual(a: string, b: string): boolean {
  const ba = Buffer.from(a, "utf8");
  const bb = Buffer.from(b, "utf8");
  return ba.length === bb.length && timingSafeEqual(ba, bb);
}

/** S3's canonical URI for a path-style object: `/bucket/key` with each segment encoded once. */
export function s3CanonicalUri(bucket: string | undefined, key: string | undefined): string {
  if (!bucket) return "/";
  return key === undefined || key === "" ? `/${uriEncode(bucket)}` : `/${uriEncode(bucket)}/${uriEncode(key, true)}`;
}

/** Splits a raw query string into decoded pairs, keeping repeated and empty values. */
export function parseQueryPairs(rawQuery: string): Array<[string, string]> {
  if (!rawQuery) return [];
  return rawQuery.split("&").filter(Boolean).map((part) => {
    const eq = part.indexOf("=");
    const k = eq === -1 ? part : part.slice(0, eq);
    const v = eq === -1 ? "" : part.slice(eq + 1);
    return [safeDecode(k), safeDecode(v)];
  });
}

function safeDecode(value: string): string {
  try {
    return decodeURIComponent(value);
  } catch {
    return value;
  }
}
