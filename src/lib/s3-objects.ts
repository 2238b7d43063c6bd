import { Agent, request, type Dispatcher } from "undici";
import { AuthError, ProviderApiError } from "./errors.js";
import { signHeaders, type StorageSettings } from "./s3-presign.js";
import { s3CanonicalUri, sha256Hex } from "./sigv4.js";

/**
 * The few object-storage calls the CLI makes itself (backup listing, cleanup), header-signed
 * with SigV4 over undici with keep-alive. The bulk data never passes through here: hosts move
 * it with curl and presigned URLs.
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
  sleep?: (ms: number) => Promise<void>;
}

const AUTH_CODES = new Set(["InvalidAccessKeyId", "SignatureDoesNotMatch", "AccessDenied", "RequestTimeTooSkewed", "AuthorizationHeaderMalformed"]);

export class StorageClient {
  readonly settings: StorageSettings;
  readonly #dispatcher: Dispatcher;
  readonly #ownDispatcher: boolean;
  readonly #attempts: number;
  readonly #now: () => Date;
  readonly #sleep: (ms: number) => Promise<void>;

  constructor(settings: StorageSettings, options: StorageClientOptions = {}) {
    this.settings = settings;
    this.#ownDispatcher = options.dispatcher === undefined;
    this.#dispatcher = options.dispatcher ?? new Agent({ keepAliveTimeout: 10_000, connections: 8 });
    this.#attempts = options.attempts ?? 3;
    this.#now = options.now ?? (() => new Date());
    this.#sleep = options.sleep ?? ((ms) => new Promise((resolve) => setTimeout(resolve, ms)));
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

  /** Stores a small object (a manifest) with a header-signed PUT; idempotent, so retried. */
  async putObject(key: string, body: string | Buffer): Promise<void> {
    await this.#send("PUT", key, "", Buffer.from(body));
  }

  /** A small object's text (a manifest), or undefined when it does not exist. */
  async getText(key: string): Promise<string | undefined> {
    const res = await this.#send("GET", key, "", undefined, true);
    return res.status === 404 ? undefined : res.body;
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
      const xml = res.body;
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
   * an answer rather than an error when `allow404`.
   */
  async call(method: "GET" | "POST" | "DELETE", key: string | undefined, query: string, body?: Buffer, allow404 = false): Promise<{ status: number; text: string }> {
    const res = await this.#send(method, key, query, body, allow404);
    return { status: res.status, text: res.body };
  }

  async close(): Promise<void> {
    if (this.#ownDispatcher) await this.#dispatcher.close();
  }

  async #send(method: string, key: string | undefined, query: string, payload?: Buffer, allow404 = false): Promise<{ status: number; headers: Record<string, string | string[] | undefined>; body: string }> {
    const base = new URL(this.settings.endpoint);
    const path = s3CanonicalUri(this.settings.bucket, key);
    const url = new URL(`${base.origin}${path}${query ? `?${query.replace(/\+/g, "%20")}` : ""}`);
    const shownPath = key === undefined ? `/${this.settings.bucket}` : `/${this.settings.bucket}/${key}`;
    // The payload is the same on every attempt: hash it once.
    const signedPayload = payload ? { payloadHash: sha256Hex(payload), headers: { "content-length": String(payload.length) } } : {};
    for (let attempt = 1; ; attempt++) {
      const headers = signHeaders({
        method, url, region: this.settings.region, accessKeyId: this.settings.accessKeyId, secretAccessKey: this.settings.secretAccessKey, now: this.#now(),
        ...signedPayload,
      });
      let status: number;
      let resHeaders: Record<string, string | string[] | undefined>;
      let body: string;
      try {
        const res = await request(url, { method: method as Dispatcher.HttpMethod, headers, ...(payload ? { body: payload } : {}), dispatcher: this.#dispatcher, headersTimeout: 30_000, bodyTimeout: 60_000 });
        status = res.statusCode;
        resHeaders = res.headers;
        body = await res.body.text();
      } catch (error) {
        if (attempt < this.#attempts) {
          await this.#sleep(backoff(attempt));
          continue;
        }
        throw new ProviderApiError(`object storage unreachable at ${base.origin}: ${(error as Error).message}`, { provider: "s3", status: 0, method, path: shownPath, cause: error });
      }
      if (status >= 500 && attempt < this.#attempts) {
        await this.#sleep(backoff(attempt));
        continue;
      }
      if (status < 300 || ((method === "HEAD" || allow404) && status === 404)) return { status, headers: resHeaders, body };
      throw storageError(status, body, resHeaders, method, shownPath);
    }
  }
}

function backoff(attempt: number): number {
  return Math.round(Math.random() * Math.min(2000, 100 * 2 ** attempt));
}

function storageError(status: number, body: string, headers: Record<string, string | string[] | undefined>, method: string, path: string): Error {
  const code = xmlText(body, "Code") ?? (status === 403 ? "AccessDenied" : status === 404 ? "NotFound" : `http_${status}`);
  const message = xmlText(body, "Message") ?? `HTTP ${status}`;
  const requestId = typeof headers["x-amz-request-id"] === "string" ? headers["x-amz-request-id"] : undefined;
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
