import { createHash } from "node:crypto";
import type { Dispatcher } from "undici";
import { AuthError, ProviderApiError } from "./errors.js";
import type { OutgoingRequest } from "./http-retry.js";
import { Transport, type Reply } from "./http-transport.js";
import { signHeaders, type StorageSettings } from "./s3-presign.js";
import { s3CanonicalUri, sha256Hex } from "./sigv4.js";

/**
 * The few object-storage calls the CLI makes itself (backup listing, cleanup), header-signed
 * with SigV4 (afresh for each attempt) over the shared transport (src/lib/http-transport.ts).
 * Every call is idempotent (GET, HEAD, PUT, DELETE), so 5xx and connection failures are retried.
 * The bulk data is never sent from here: hosts move it with curl and presigned URLs (it is only
 * read back, to hash it: readSha256).
 */

export interface StoredObject {
  key: string;
  size: number;
  /** As the store reports it, quotes included. */
  etag: string;
  lastModified: string;
}

export interface StorageClientOptions {
  dispatcher?: Dispatcher;
  /** Attempts for idempotent calls after a 5xx or a connection failure. */
  attempts?: number;
  now?: () => Date;
  sleep?: (ms: number, signal?: AbortSignal) => Promise<void>;
  /** Ctrl-C: ends a call in flight or waiting to retry. */
  signal?: AbortSignal | undefined;
  debug?: ((line: string) => void) | undefined;
}

const AUTH_CODES = new Set(["InvalidAccessKeyId", "SignatureDoesNotMatch", "AccessDenied", "RequestTimeTooSkewed", "AuthorizationHeaderMalformed"]);

export class StorageClient {
  readonly settings: StorageSettings;
  readonly #transport: Transport;
  readonly #now: () => Date;

  constructor(settings: StorageSettings, options: StorageClientOptions = {}) {
    this.settings = settings;
    this.#now = options.now ?? (() => new Date());
    this.#transport = new Transport({
      baseUrl: new URL(settings.endpoint).origin,
      label: "s3",
      dispatcher: options.dispatcher,
      connections: 8,
      timeoutMs: 60_000,
      signal: options.signal,
      debug: options.debug,
      sleep: options.sleep,
      retry: { attempts: options.attempts ?? 3, baseDelayMs: 200, maxDelayMs: 2000 },
    });
  }

  /** The object's size and ETag, or undefined when it does not exist. */
  async headObject(key: string): Promise<StoredObject | undefined> {
    const res = await this.#send("HEAD", key, "");
    if (res.status === 404) return undefined;
    return {
      key,
      size: Number(res.headers["content-length"] ?? 0),
      etag: String(res.headers.etag ?? ""),
      lastModified: new Date(String(res.headers["last-modified"] ?? 0)).toISOString(),
    };
  }

  /**
   * An object's sha256 (hex) as the store kept it with the upload (`x-amz-checksum-sha256`, asked
   * for with `x-amz-checksum-mode: ENABLED`), without reading it; undefined when the object is gone
   * or was stored without one.
   */
  async objectSha256(key: string): Promise<{ size: number; sha256: string | undefined } | undefined> {
    const res = await this.#send("HEAD", key, "", undefined, false, { "x-amz-checksum-mode": "ENABLED" });
    if (res.status === 404) return undefined;
    const b64 = res.headers["x-amz-checksum-sha256"];
    return { size: Number(res.headers["content-length"] ?? 0), sha256: b64 ? Buffer.from(String(b64), "base64").toString("hex") : undefined };
  }

  /**
   * An object's size and sha256 from reading it back in full, hashed as it streams (never held in
   * memory); undefined when it does not exist. For objects stored without a checksum (s3fs sends
   * none) and for checking what a backup stored. A read that breaks is retried from the first byte.
   */
  async readSha256(key: string): Promise<{ bytes: number; sha256: string } | undefined> {
    let read = { hash: createHash("sha256"), bytes: 0 };
    const res = await this.#send("GET", key, "", undefined, true, {}, () => {
      read = { hash: createHash("sha256"), bytes: 0 };
      return (chunk) => {
        read.hash.update(chunk);
        read.bytes += chunk.length;
      };
    });
    return res.status === 404 ? undefined : { bytes: read.bytes, sha256: read.hash.digest("hex") };
  }

  /** Deletes every object under `prefix`; returns how many there were. */
  async deletePrefix(prefix: string): Promise<number> {
    const all = await this.listObjects(prefix);
    for (const o of all) await this.deleteObject(o.key);
    return all.length;
  }

  /** Stores a small object (a manifest) with a header-signed PUT; idempotent, so retried. */
  async putObject(key: string, body: string | Buffer): Promise<void> {
    await this.#send("PUT", key, "", Buffer.from(body));
  }

  /** A small object's text (a manifest), or undefined when it does not exist. */
  async getText(key: string): Promise<string | undefined> {
    const res = await this.#send("GET", key, "", undefined, true);
    return res.status === 404 ? undefined : res.text;
  }

  /** Deletes an object; deleting one that is already gone succeeds, as in S3. */
  async deleteObject(key: string): Promise<void> {
    await this.#send("DELETE", key, "");
  }

  /** Every object under `prefix`, following continuation tokens. */
  async listObjects(prefix = ""): Promise<StoredObject[]> {
    const out: StoredObject[] = [];
    let token: string | undefined;
    do {
      const params = new URLSearchParams({ "list-type": "2", prefix });
      if (token) params.set("continuation-token", token);
      const res = await this.#send("GET", undefined, params.toString());
      const xml = res.text;
      for (const block of xml.match(/<Contents>[\s\S]*?<\/Contents>/g) ?? []) {
        out.push({
          key: xmlText(block, "Key") ?? "",
          size: Number(xmlText(block, "Size") ?? 0),
          etag: xmlText(block, "ETag") ?? "",
          lastModified: xmlText(block, "LastModified") ?? "",
        });
      }
      token = xmlText(xml, "IsTruncated") === "true" ? xmlText(xml, "NextContinuationToken") : undefined;
    } while (token);
    return out;
  }

  /**
   * A signed call for operations built elsewhere (multipart uploads: s3-multipart.ts). A 404 is
   * an answer rather than an error when `allow404`. POSTs (create, complete) are not retried
   * after an ambiguous failure: a resumed upload looks its state up instead.
   */
  async call(method: "GET" | "POST" | "DELETE", key: string | undefined, query: string, body?: Buffer, allow404 = false): Promise<{ status: number; text: string }> {
    const res = await this.#send(method, key, query, body, allow404);
    return { status: res.status, text: res.text };
  }

  close(): Promise<void> {
    return this.#transport.close();
  }

  #send(method: Dispatcher.HttpMethod, key: string | undefined, query: string, payload?: Buffer, allow404 = false, headers: Record<string, string> = {}, streamBody?: OutgoingRequest["streamBody"]): Promise<Reply> {
    const path = s3CanonicalUri(this.settings.bucket, key);
    const pathAndQuery = `${path}${query ? `?${query.replace(/\+/g, "%20")}` : ""}`;
    const url = new URL(`${this.#transport.origin}${pathAndQuery}`);
    const shownPath = key === undefined ? `/${this.settings.bucket}` : `/${this.settings.bucket}/${key}`;
    // The payload is the same on every attempt: hash it once.
    const signedPayload = payload ? { payloadHash: sha256Hex(payload), headers: { ...headers, "content-length": String(payload.length) } } : { headers };
    return this.#transport.call<Reply>({
      method,
      path: pathAndQuery,
      // Signed for each attempt: the signature carries the time.
      headers: () => signHeaders({
        method, url, region: this.settings.region, accessKeyId: this.settings.accessKeyId, secretAccessKey: this.settings.secretAccessKey, now: this.#now(),
        ...signedPayload,
      }),
      body: payload,
      streamBody,
    }, {
      accept: (reply) => (reply.status < 300 || ((method === "HEAD" || allow404) && reply.status === 404) ? { value: reply } : undefined),
      error: (failure) => failure.reply
        ? storageError(failure.reply, method, shownPath)
        : new ProviderApiError(`object storage unreachable at ${this.#transport.origin}: ${failure.network!.message}`, { provider: "s3", status: 0, method, path: shownPath, cause: failure.network!.cause }),
    });
  }
}

function storageError(reply: Reply, method: string, path: string): Error {
  const { status, text: body, headers } = reply;
  const code = xmlText(body, "Code") ?? (status === 403 ? "AccessDenied" : status === 404 ? "NotFound" : `http_${status}`);
  const message = xmlText(body, "Message") ?? `HTTP ${status}`;
  const requestId = headers["x-amz-request-id"];
  const apiError = new ProviderApiError(`object storage: ${code}: ${message} (${method} ${path})`, { provider: "s3", status, providerCode: code, requestId, method, path });
  if (status === 403 && AUTH_CODES.has(code)) {
    return new AuthError(`object storage rejected the credentials: ${code}: ${message}`, {
      hint: "check AUTOMNA_STORAGE_ACCESS_KEY_ID and AUTOMNA_STORAGE_SECRET_ACCESS_KEY (config storage.accessKeyId, storage.secretAccessKey) and the clock",
      cause: apiError,
    });
  }
  return apiError;
}

export function xmlText(xml: string, tag: string): string | undefined {
  const m = new RegExp(`<${tag}>([\\s\\S]*?)</${tag}>`).exec(xml);
  if (!m) return undefined;
  return m[1]!.replace(/&(lt|gt|amp|apos|quot);/g, (_all, e: string) => ({ lt: "<", gt: ">", amp: "&", apos: "'", quot: '"' })[e]!);
}
