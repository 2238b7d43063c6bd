import type { IncomingHttpHeaders } from "node:http";
import {
  MAX_PRESIGN_SECONDS,
  SIGV4_ALGORITHM,
  UNSIGNED_PAYLOAD,
  canonicalRequest,
  credentialScope,
  parseAmzDate,
  signature,
  signaturesEqual,
  signingKey,
  stringToSign,
} from "../lib/sigv4.js";
import type { ChunkSigning } from "./s3-chunked.js";
import { S3Error } from "./s3-errors.js";

/**
 * SigV4 verification for the S3 stand-in: header-signed requests (Authorization header) and
 * presigned URLs (X-Amz-* query parameters), with S3's error codes and statuses.
 */

export interface VerifyInput {
  method: string;
  canonicalUri: string;
  query: Array<[string, string]>;
  headers: IncomingHttpHeaders;
  now: Date;
  /** Configured region; a request scoped to another one is rejected like S3 does. */
  region: string;
  secrets: ReadonlyMap<string, string>;
}

export interface VerifiedRequest {
  accessKeyId: string;
  /** sha256 hex the client committed to, or undefined when unsigned. */
  payloadSha256: string | undefined;
  presigned: boolean;
  /** Set for an `aws-chunked` body: how to verify its chunks (signed variants) and whether trailers follow. */
  streaming?: { signing: ChunkSigning | undefined; trailer: boolean } | undefined;
}

/** The `x-amz-content-sha256` values of an aws-chunked body the sandbox decodes (the ECDSA/SigV4a ones it refuses). */
const STREAMING: Record<string, { signed: boolean; trailer: boolean }> = {
  "STREAMING-UNSIGNED-PAYLOAD-TRAILER": { signed: false, trailer: true },
  "STREAMING-AWS4-HMAC-SHA256-PAYLOAD": { signed: true, trailer: false },
  "STREAMING-AWS4-HMAC-SHA256-PAYLOAD-TRAILER": { signed: true, trailer: true },
};

const MAX_SKEW_MS = 15 * 60 * 1000;
const HEX64 = /^[0-9a-f]{64}$/;

export function verifyRequest(input: VerifyInput): VerifiedRequest {
  const authHeader = header(input.headers, "authorization");
  const queryAuth = input.query.some(([k]) => k === "X-Amz-Algorithm" || k === "X-Amz-Signature");
  if (authHeader && queryAuth) throw new S3Error(400, "InvalidArgument", "Only one auth mechanism allowed; only the X-Amz-Algorithm query parameter, Signature query string parameter or the Authorization header should be specified");
  if (queryAuth) return verifyPresigned(input);
  if (authHeader) return verifyHeader(input, authHeader);
  throw new S3Error(403, "AccessDenied", "Access Denied");
}

function verifyPresigned(input: VerifyInput): VerifiedRequest {
  const q = new Map(input.query);
  const algorithm = q.get("X-Amz-Algorithm");
  const credential = q.get("X-Amz-Credential");
  const date = q.get("X-Amz-Date");
  const expires = q.get("X-Amz-Expires");
  const signedHeaders = q.get("X-Amz-SignedHeaders");
  const sig = q.get("X-Amz-Signature");
  if (!algorithm || !credential || !date || !expires || !signedHeaders || !sig) {
    throw new S3Error(400, "AuthorizationQueryParametersError", "Query-string authentication version 4 requires the X-Amz-Algorithm, X-Amz-Credential, X-Amz-Signature, X-Amz-Date, X-Amz-SignedHeaders, and X-Amz-Expires parameters.");
  }
  if (algorithm !== SIGV4_ALGORITHM) {
    throw new S3Error(400, "AuthorizationQueryParametersError", "X-Amz-Algorithm only supports \"AWS4-HMAC-SHA256\"");
  }
  const signedAt = parseAmzDate(date);
  if (!signedAt) throw new S3Error(400, "AuthorizationQueryParametersError", "X-Amz-Date must be in the ISO8601 Long Format \"yyyyMMdd'T'HHmmss'Z'\"");
  const lifetime = Number(expires);
  if (!/^\d+$/.test(expires) || lifetime < 0) throw new S3Error(400, "AuthorizationQueryParametersError", "X-Amz-Expires should be a number");
  if (lifetime > MAX_PRESIGN_SECONDS) {
    throw new S3Error(400, "AuthorizationQueryParametersError", `X-Amz-Expires must be less than a week (in seconds) that is ${MAX_PRESIGN_SECONDS}`);
  }
  const scope = parseCredential(credential, date.slice(0, 8), input.region, "AuthorizationQueryParametersError");
  const nowMs = input.now.getTime();
  if (signedAt.getTime() - nowMs > MAX_SKEW_MS) throw new S3Error(403, "AccessDenied", "Request is not valid yet");
  const expiresAt = new Date(signedAt.getTime() + lifetime * 1000);
  if (nowMs > expiresAt.getTime()) {
    throw new S3Error(403, "AccessDenied", "Request has expired", {
      "X-Amz-Expires": expires,
      Expires: expiresAt.toISOString(),
      ServerTime: input.now.toISOString(),
    });
  }
  requireKey(input.secrets, scope.accessKeyId);
  const signed = signedHeaders.split(";");
  if (!signed.includes("host")) throw new S3Error(400, "AuthorizationQueryParametersError", "X-Amz-SignedHeaders must include host");
  const contentSha = header(input.headers, "x-amz-content-sha256");
  const payloadHash = contentSha ?? UNSIGNED_PAYLOAD;
  const query = input.query.filter(([k]) => k !== "X-Amz-Signature");
  check(input, { timestamp: date, scope, signed, payloadHash, query, provided: sig });
  return { accessKeyId: scope.accessKeyId, payloadSha256: contentSha && HEX64.test(contentSha) ? contentSha : undefined, presigned: true };
}

function verifyHeader(input: VerifyInput, authorization: string): VerifiedRequest {
  const m = /^AWS4-HMAC-SHA256\s+(.*)$/s.exec(authorization);
  if (!m) {
    throw new S3Error(400, "InvalidArgument", "Unsupported Authorization Type", { ArgumentName: "Authorization", ArgumentValue: "***" });
  }
  const parts = new Map<string, string>();
  for (const piece of m[1]!.split(",")) {
    const eq = piece.indexOf("=");
    if (eq > 0) parts.set(piece.slice(0, eq).trim(), piece.slice(eq + 1).trim());
  }
  const credential = parts.get("Credential");
  const signedHeaders = parts.get("SignedHeaders");
  const sig = parts.get("Signature");
  if (!credential || !signedHeaders || !sig) {
    throw new S3Error(400, "AuthorizationHeaderMalformed", "The authorization header is malformed; the authorization component is missing Credential, SignedHeaders or Signature.");
  }
  const timestamp = header(input.headers, "x-amz-date");
  const signedAt = timestamp ? parseAmzDate(timestamp) : undefined;
  if (!signedAt || !timestamp) {
    throw new S3Error(403, "AccessDenied", "AWS authentication requires a valid x-amz-date header");
  }
  if (Math.abs(signedAt.getTime() - input.now.getTime()) > MAX_SKEW_MS) {
    throw new S3Error(403, "RequestTimeTooSkewed", "The difference between the request time and the current time is too large.", {
      RequestTime: timestamp,
      ServerTime: input.now.toISOString(),
      MaxAllowedSkewMilliseconds: String(MAX_SKEW_MS),
    });
  }
  const scope = parseCredential(credential, timestamp.slice(0, 8), input.region, "AuthorizationHeaderMalformed");
  requireKey(input.secrets, scope.accessKeyId);
  const signed = signedHeaders.split(";");
  if (!signed.includes("host")) throw new S3Error(400, "AuthorizationHeaderMalformed", "The authorization header is malformed; SignedHeaders must include host");
  const unsigned = Object.keys(input.headers).filter((h) => h.startsWith("x-amz-") && !signed.includes(h));
  if (unsigned.length) {
    throw new S3Error(403, "AccessDenied", "There were headers present in the request which were not signed", { HeadersNotSigned: unsigned.join(", ") });
  }
  const payloadHash = header(input.headers, "x-amz-content-sha256");
  if (!payloadHash) throw new S3Error(400, "InvalidRequest", "Missing required header for this request: x-amz-content-sha256");
  const streaming = STREAMING[payloadHash];
  if (payloadHash.startsWith("STREAMING-") && !streaming) throw new S3Error(501, "NotImplemented", "A header you provided implies functionality that is not implemented", { Header: "x-amz-content-sha256" });
  if (!streaming && payloadHash !== UNSIGNED_PAYLOAD && !HEX64.test(payloadHash)) {
    throw new S3Error(400, "InvalidArgument", "x-amz-content-sha256 must be UNSIGNED-PAYLOAD, STREAMING-AWS4-HMAC-SHA256-PAYLOAD or a valid sha256 value.");
  }
  check(input, { timestamp, scope, signed, payloadHash, query: input.query, provided: sig });
  return {
    accessKeyId: scope.accessKeyId,
    payloadSha256: payloadHash === UNSIGNED_PAYLOAD || streaming ? undefined : payloadHash,
    presigned: false,
    streaming: streaming && {
      trailer: streaming.trailer,
      signing: streaming.signed ? {
        key: signingKey(input.secrets.get(scope.accessKeyId)!, scope.date, scope.region, scope.service),
        timestamp, scope: credentialScope(scope.date, scope.region, scope.service), seed: sig,
      } : undefined,
    },
  };
}

interface Scope {
  accessKeyId: string;
  date: string;
  region: string;
  service: string;
}

function parseCredential(credential: string, requestDay: string, region: string, errorCode: string): Scope {
  const parts = credential.split("/");
  if (parts.length !== 5 || parts[4] !== "aws4_request" || !parts[0]) {
    throw new S3Error(400, errorCode, `Error parsing the X-Amz-Credential parameter; the Credential is mal-formed; expecting "<YOUR-AKID>/YYYYMMDD/REGION/SERVICE/aws4_request".`);
  }
  const [accessKeyId, date, credRegion, service] = parts as [string, string, string, string];
  if (date !== requestDay) {
    throw new S3Error(400, errorCode, `Invalid credential date "${date}". This date is not the same as X-Amz-Date: "${requestDay}".`);
  }
  if (credRegion !== region) {
    throw new S3Error(400, errorCode, `Error parsing the X-Amz-Credential parameter; the region '${credRegion}' is wrong; expecting '${region}'`, { Region: region });
  }
  if (service !== "s3") throw new S3Error(400, errorCode, `Error parsing the X-Amz-Credential parameter; incorrect service "${service}". This endpoint belongs to "s3".`);
  return { accessKeyId, date, region: credRegion, service };
}

function requireKey(secrets: ReadonlyMap<string, string>, accessKeyId: string): string {
  const secret = secrets.get(accessKeyId);
  if (secret === undefined) throw new S3Error(403, "InvalidAccessKeyId", "The AWS Access Key Id you provided does not exist in our records.");
  return secret;
}

interface CheckInput {
  timestamp: string;
  scope: Scope;
  signed: string[];
  payloadHash: string;
  query: Array<[string, string]>;
  provided: string;
}

function check(input: VerifyInput, c: CheckInput): void {
  const headers: Record<string, string> = {};
  for (const name of c.signed) headers[name] = header(input.headers, name) ?? "";
  const canonical = canonicalRequest({
    method: input.method,
    canonicalUri: input.canonicalUri,
    query: c.query,
    headers,
    signedHeaders: c.signed,
    payloadHash: c.payloadHash,
  });
  const toSign = stringToSign(c.timestamp, credentialScope(c.scope.date, c.scope.region, c.scope.service), canonical);
  const expected = signature(input.secrets.get(c.scope.accessKeyId)!, c.scope.date, c.scope.region, c.scope.service, toSign);
  if (!signaturesEqual(expected, c.provided)) {
    throw new S3Error(403, "SignatureDoesNotMatch", "The request signature we calculated does not match the signature you provided. Check your key and signing method.", {
      StringToSign: toSign,
    });
  }
}

function header(headers: IncomingHttpHeaders, name: string): string | undefined {
  const value = headers[name];
  return Array.isArray(value) ? value.join(",") : value;
}

