import type { Config } from "./config.js";
import { ConfigError, UsageError } from "./errors.js";
import type { Secret } from "./redact.js";
import {
  EMPTY_SHA256,
  MAX_PRESIGN_SECONDS,
  SIGV4_ALGORITHM,
  UNSIGNED_PAYLOAD,
  amzDate,
  canonicalRequest,
  credentialScope,
  parseQueryPairs,
  s3CanonicalUri,
  signature,
  stringToSign,
  uriEncode,
} from "./sigv4.js";

/**
 * Presigned S3 URLs (SigV4 query authentication) and header signing for the few calls the CLI
 * makes itself. The migration hands presigned URLs to `curl` on the agent hosts, so the URL is
 * all a host ever sees: it carries a signature and the access key id, never the secret.
 */

/** Where migration archives and backups live (config `storage.*`, env AUTOMNA_STORAGE_*). */
export interface StorageSettings {
  /** e.g. `https://<account>.r2.cloudflarestorage.com` or the sandbox's `http://127.0.0.1:port`. */
  endpoint: string;
  bucket: string;
  region: string;
  accessKeyId: Secret;
  secretAccessKey: Secret;
}

export type PresignMethod = "PUT" | "GET" | "HEAD" | "DELETE";

export interface PresignUrlOptions {
  method: PresignMethod;
  endpoint: string;
  bucket: string;
  key: string;
  region: string;
  accessKeyId: Secret;
  secretAccessKey: Secret;
  expiresInSeconds: number;
  /** Signing time; defaults to now. */
  now?: Date;
}

const SERVICE = "s3";

/** A path-style presigned URL (`{endpoint}/{bucket}/{key}?X-Amz-...`), signed for `host` only. */
export function presignUrl(options: PresignUrlOptions): string {
  const base = endpointUrl(options.endpoint);
  if (!options.bucket) throw new UsageError("presign: bucket is empty");
  if (!options.key) throw new UsageError("presign: object key is empty");
  const url = new URL(base.origin + s3CanonicalUri(options.bucket, options.key));
  return presignRequest({ ...options, url, service: SERVICE });
}

export interface PresignRequestOptions {
  method: string;
  /** The full URL to sign; its path must already be encoded as it will be sent. */
  url: URL;
  region: string;
  service?: string;
  accessKeyId: Secret;
  secretAccessKey: Secret;
  expiresInSeconds: number;
  now?: Date;
}

/**
 * Signs any URL with SigV4 query parameters (the general form; presignUrl builds a path-style
 * S3 URL and calls this). Exposed so the AWS published example can be checked byte for byte.
 */
export function presignRequest(options: PresignRequestOptions): string {
  const expires = options.expiresInSeconds;
  if (!Number.isInteger(expires) || expires < 1 || expires > MAX_PRESIGN_SECONDS) {
    throw new UsageError(`presigned URL lifetime must be 1..${MAX_PRESIGN_SECONDS} seconds, got ${expires}`);
  }
  const now = options.now ?? new Date();
  const timestamp = amzDate(now);
  const day = timestamp.slice(0, 8);
  const service = options.service ?? SERVICE;
  const scope = credentialScope(day, options.region, service);
  const url = new URL(options.url.href);
  const query: Array<[string, string]> = [
    ...parseQueryPairs(url.search.slice(1)),
    ["X-Amz-Algorithm", SIGV4_ALGORITHM],
    ["X-Amz-Credential", `${options.accessKeyId.reveal()}/${scope}`],
    ["X-Amz-Date", timestamp],
    ["X-Amz-Expires", String(expires)],
    ["X-Amz-SignedHeaders", "host"],
  ];
  const canonical = canonicalRequest({
    method: options.method,
    canonicalUri: url.pathname || "/",
    query,
    headers: { host: url.host },
    signedHeaders: ["host"],
    payloadHash: UNSIGNED_PAYLOAD,
  });
  const sig = signature(options.secretAccessKey.reveal(), day, options.region, service, stringToSign(timestamp, scope, canonical));
  const encoded = [...query, ["X-Amz-Signature", sig] as [string, string]]
    .map(([k, v]) => `${uriEncode(k)}=${uriEncode(v)}`)
    .join("&");
  return `${url.origin}${url.pathname}?${encoded}`;
}

export interface SignedHeadersInput {
  method: string;
  url: URL;
  region: string;
  accessKeyId: Secret;
  secretAccessKey: Secret;
  /** sha256 hex of the body, or UNSIGNED-PAYLOAD; defaults to the empty body's hash. */
  payloadHash?: string;
  /** Extra headers to sign (lower-case names). */
  headers?: Record<string, string>;
  now?: Date;
}

/** Headers for a header-signed request: Authorization, x-amz-date, x-amz-content-sha256. */
export function signHeaders(input: SignedHeadersInput): Record<string, string> {
  const now = input.now ?? new Date();
  const timestamp = amzDate(now);
  const day = timestamp.slice(0, 8);
  const scope = credentialScope(day, input.region, SERVICE);
  const payloadHash = input.payloadHash ?? EMPTY_SHA256;
  const headers: Record<string, string> = {
    ...Object.fromEntries(Object.entries(input.headers ?? {}).map(([k, v]) => [k.toLowerCase(), v])),
    host: input.url.host,
    "x-amz-content-sha256": payloadHash,
    "x-amz-date": timestamp,
  };
  const signed = Object.keys(headers).sort();
  const canonical = canonicalRequest({
    method: input.method,
    canonicalUri: input.url.pathname || "/",
    query: parseQueryPairs(input.url.search.slice(1)),
    headers,
    signedHeaders: signed,
    payloadHash,
  });
  const sig = signature(input.secretAccessKey.reveal(), day, input.region, SERVICE, stringToSign(timestamp, scope, canonical));
  const { host: _host, ...rest } = headers;
  return {
    ...rest,
    authorization: `${SIGV4_ALGORITHM} Credential=${input.accessKeyId.reveal()}/${scope}, SignedHeaders=${signed.join(";")}, Signature=${sig}`,
  };
}

/**
 * A presigned URL safe to show under --debug: the signature and the access key id are masked.
 * Never print a presigned URL without passing it through this.
 */
export function redactPresignedUrl(url: string): string {
  return url
    .replace(/([?&]X-Amz-Signature=)[^&]*/i, "$1***")
    .replace(/([?&]X-Amz-Credential=)[^&%/]*/i, "$1***");
}

function endpointUrl(endpoint: string): URL {
  let url: URL;
  try {
    url = new URL(endpoint);
  } catch {
    throw new ConfigError(`storage endpoint "${endpoint}" is not a URL`, { hint: "automna config set storage.endpoint https://..." });
  }
  if (url.protocol !== "http:" && url.protocol !== "https:") {
    throw new ConfigError(`storage endpoint "${endpoint}" must be http(s)`);
  }
  if (url.pathname !== "/" || url.search) {
    throw new ConfigError(`storage endpoint "${endpoint}" must not have a path; automna uses path-style URLs (endpoint/bucket/key)`);
  }
  return url;
}

const STORAGE_KEYS = [
  ["storage.endpoint", "AUTOMNA_STORAGE_ENDPOINT"],
  ["storage.bucket", "AUTOMNA_STORAGE_BUCKET"],
  ["storage.accessKeyId", "AUTOMNA_STORAGE_ACCESS_KEY_ID"],
  ["storage.secretAccessKey", "AUTOMNA_STORAGE_SECRET_ACCESS_KEY"],
] as const;

/** Reads the storage settings; a ConfigError names every missing key and its variable. */
export function storageSettingsFromConfig(config: Config): StorageSettings {
  const endpoint = config.getString("storage.endpoint");
  const bucket = config.getString("storage.bucket");
  const accessKeyId = config.secret("storage.accessKeyId");
  const secretAccessKey = config.secret("storage.secretAccessKey");
  const present: Record<string, unknown> = {
    "storage.endpoint": endpoint,
    "storage.bucket": bucket,
    "storage.accessKeyId": accessKeyId,
    "storage.secretAccessKey": secretAccessKey,
  };
  const missing = STORAGE_KEYS.filter(([key]) => present[key] === undefined || present[key] === "");
  if (missing.length || !endpoint || !bucket || !accessKeyId || !secretAccessKey) {
    throw new ConfigError(`object storage is not configured: missing ${missing.map(([k, env]) => `${k} (${env})`).join(", ")}`, {
      hint: "set them with `automna config set storage.<key> ...` or the environment variables",
    });
  }
  endpointUrl(endpoint);
  return { endpoint, bucket, region: config.getString("storage.region") ?? "auto", accessKeyId, secretAccessKey };
}
