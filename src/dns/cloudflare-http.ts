import { Pool, type Dispatcher } from "undici";
import { AuthError, ProviderApiError, type ProviderApiErrorInit } from "../lib/errors.js";
import type { Secret } from "../lib/redact.js";

/**
 * The Cloudflare API transport: undici keep-alive pool, the `{success, errors, messages, result,
 * result_info}` envelope unwrapped into results or typed errors, and retries that know what is
 * safe. GET, PUT, PATCH and DELETE retry after 5xx, 429 and connection failures with jittered
 * exponential backoff; a 429 waits for `retry-after`. A POST retries only after a 429 (the call was
 * refused, nothing happened) or after asking the caller's lookup whether the create landed.
 */

export interface CloudflareMessage {
  code: number;
  message: string;
  error_chain?: CloudflareMessage[];
}

export interface ResultInfo {
  page: number;
  per_page: number;
  count: number;
  total_count: number;
  total_pages?: number;
}

/** A Cloudflare API error with every code from `errors` and their `error_chain`s. */
export class CloudflareApiError extends ProviderApiError {
  readonly codes: number[];
  constructor(message: string, init: ProviderApiErrorInit, codes: number[]) {
    super(message, init);
    this.codes = codes;
  }
}

export interface RetryOptions {
  /** Total tries per call (default 5). */
  attempts?: number;
  baseDelayMs?: number;
  maxDelayMs?: number;
  /** Longest retry-after honoured before giving up (default 300 s: Cloudflare blocks for 5 minutes). */
  maxRetryAfterMs?: number;
}

export interface CloudflareHttpOptions {
  baseUrl: string;
  token: Secret;
  retry?: RetryOptions;
  timeoutMs?: number;
  dispatcher?: Dispatcher;
  signal?: AbortSignal;
  sleep?: (ms: number) => Promise<void>;
  random?: () => number;
  /** Called before each retry (for progress lines / debug logs). */
  onRetry?: (info: { method: string; path: string; attempt: number; delayMs: number; reason: string }) => void;
}

export interface CallOptions<T> {
  query?: Record<string, string | number | undefined>;
  body?: unknown;
  /**
   * For a create: after an ambiguous failure (5xx, connection lost) look for the object; a value
   * means the create happened and is returned instead of creating it again.
   */
  lookup?: () => Promise<T | undefined>;
}

const AUTH_CODES = new Set([6003, 6111, 9106, 9109, 10000]);
const TOKEN_HINT = "set CLOUDFLARE_API_TOKEN (or `automna config set cloudflare.token`) to an API token with Zone:DNS:Edit on the zone";

export class CloudflareHttp {
  readonly #origin: string;
  readonly #prefix: string;
  readonly #token: Secret;
  readonly #pool: Dispatcher;
  readonly #ownPool: boolean;
  readonly #retry: Required<RetryOptions>;
  readonly #timeoutMs: number;
  readonly #options: CloudflareHttpOptions;

  constructor(options: CloudflareHttpOptions) {
    const url = new URL(options.baseUrl);
    this.#origin = url.origin;
    this.#prefix = url.pathname.replace(/\/$/, "");
    this.#token = options.token;
    this.#ownPool = options.dispatcher === undefined;
    this.#pool = options.dispatcher ?? new Pool(url.origin, { connections: 16, keepAliveTimeout: 30_000 });
    this.#retry = { attempts: 5, baseDelayMs: 250, maxDelayMs: 8000, maxRetryAfterMs: 300_000, ...options.retry };
    this.#timeoutMs = options.timeoutMs ?? 30_000;
    this.#options = options;
  }

  async call<T>(method: Dispatcher.HttpMethod, path: string, options: CallOptions<T> = {}): Promise<{ result: T; info: ResultInfo | undefined }> {
    const query = new URLSearchParams();
    for (const [k, v] of Object.entries(options.query ?? {})) if (v !== undefined) query.set(k, String(v));
    const fullPath = `${this.#prefix}${path}${query.size ? `?${query}` : ""}`;
    const safe = method !== "POST";
    for (let attempt = 1; ; attempt++) {
      let failure: { reason: string; error: Error; retryAfterMs?: number; ambiguous: boolean };
      try {
        const res = await this.#pool.request({
          origin: this.#origin,
          path: fullPath,
          method,
          headers: {
            authorization: `Bearer ${this.#token.reveal()}`,
            accept: "application/json",
            ...(options.body === undefined ? {} : { "content-type": "application/json" }),
          },
          body: options.body === undefined ? undefined : JSON.stringify(options.body),
          headersTimeout: this.#timeoutMs,
          bodyTimeout: this.#timeoutMs,
          ...(this.#options.signal ? { signal: this.#options.signal } : {}),
        });
        const text = await res.body.text();
        const parsed = parseEnvelope(text);
        if (res.statusCode < 400 && parsed?.success === true) {
          return { result: parsed.result as T, info: parsed.result_info as ResultInfo | undefined };
        }
        const error = apiError(res.statusCode, parsed, res.headers, method, path);
        if (res.statusCode === 429) {
          failure = { reason: "429 rate limited", error, retryAfterMs: retryAfterMs(res.headers), ambiguous: false };
        } else if (res.statusCode >= 500) {
          failure = { reason: `${res.statusCode}`, error, ambiguous: true };
        } else {
          throw error;
        }
      } catch (error) {
        if (error instanceof ProviderApiError || error instanceof AuthError || this.#options.signal?.aborted) throw error;
        failure = {
          reason: (error as Error).message,
          error: new ProviderApiError(`cannot reach the Cloudflare API at ${this.#origin}: ${(error as Error).message}`, { provider: "cloudflare", status: 0, method, path, cause: error }),
          ambiguous: true,
        };
      }
      if (attempt >= this.#retry.attempts) throw failure.error;
      if (failure.retryAfterMs !== undefined && failure.retryAfterMs > this.#retry.maxRetryAfterMs) throw failure.error;
      if (!safe && failure.ambiguous) {
        if (!options.lookup) throw failure.error;
        const found = await options.lookup();
        if (found !== undefined) return { result: found, info: undefined };
      }
      const jitter = Math.round((this.#options.random ?? Math.random)() * Math.min(this.#retry.maxDelayMs, this.#retry.baseDelayMs * 2 ** (attempt - 1)));
      const delayMs = Math.max(failure.retryAfterMs ?? 0, jitter);
      this.#options.onRetry?.({ method, path, attempt, delayMs, reason: failure.reason });
      await (this.#options.sleep ?? ((ms: number) => new Promise((resolve) => setTimeout(resolve, ms))))(delayMs);
    }
  }

  async close(): Promise<void> {
    if (this.#ownPool) await this.#pool.close();
  }
}

interface Envelope {
  success?: boolean;
  errors?: CloudflareMessage[];
  result?: unknown;
  result_info?: unknown;
}

function parseEnvelope(text: string): Envelope | undefined {
  try {
    const value = JSON.parse(text) as unknown;
    return typeof value === "object" && value !== null ? (value as Envelope) : undefined;
  } catch {
    return undefined;
  }
}

function flatten(messages: CloudflareMessage[]): CloudflareMessage[] {
  return messages.flatMap((m) => [m, ...flatten(m.error_chain ?? [])]);
}

function apiError(status: number, envelope: Envelope | undefined, headers: Record<string, string | string[] | undefined>, method: string, path: string): Error {
  const errors = Array.isArray(envelope?.errors) ? envelope.errors : [];
  const all = flatten(errors);
  const codes = all.map((e) => e.code);
  // The innermost message says what is wrong ("DNS record has 1 tags, exceeding the quota of 0").
  const text = errors.length
    ? errors.map((e) => [e, ...flatten(e.error_chain ?? [])].map((m) => `${m.message} (${m.code})`).join(": ")).join("; ")
    : `HTTP ${status} without a Cloudflare error body`;
  const requestId = typeof headers["cf-ray"] === "string" ? headers["cf-ray"] : undefined;
  const init: ProviderApiErrorInit = { provider: "cloudflare", status, method, path, ...(requestId ? { requestId } : {}), ...(codes.length ? { providerCode: String(codes[0]) } : {}) };
  if (codes.includes(7003)) init.hint = "check cloudflare.zoneId (AUTOMNA_CLOUDFLARE_ZONE_ID): the zone id is unknown or not reachable with this token";
  const error = new CloudflareApiError(`Cloudflare API: ${text}`, init, codes);
  if (status === 401 || status === 403 || codes.some((c) => AUTH_CODES.has(c))) {
    return new AuthError(`Cloudflare rejected the API token: ${text}`, { hint: TOKEN_HINT, cause: error });
  }
  return error;
}

function retryAfterMs(headers: Record<string, string | string[] | undefined>): number | undefined {
  const raw = headers["retry-after"];
  if (typeof raw === "string") {
    const seconds = Number(raw);
    if (Number.isFinite(seconds)) return Math.max(0, seconds * 1000);
    const date = Date.parse(raw);
    if (!Number.isNaN(date)) return Math.max(0, date - Date.now());
  }
  // `Ratelimit: "default";r=0;t=42` when retry-after is missing.
  const limit = headers.ratelimit;
  const t = typeof limit === "string" ? /;t=(\d+)/.exec(limit) : null;
  return t ? Number(t[1]) * 1000 : undefined;
}
