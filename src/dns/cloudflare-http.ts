import type { Dispatcher } from "undici";
import { AuthError, ProviderApiError, type ProviderApiErrorInit } from "../lib/errors.js";
import { Transport, type RetryInfo } from "../lib/http-transport.js";
import { buildQuery } from "../lib/http-util.js";
import type { Secret } from "../lib/redact.js";

/**
 * The Cloudflare API client on the shared transport (src/lib/http-transport.ts): the `{success,
 * errors, messages, result, result_info}` envelope unwrapped into results or typed errors, and
 * retries that know what is safe. GET, PUT, PATCH and DELETE retry after 5xx, 429 and connection
 * failures with jittered exponential backoff; a 429 waits for `retry-after` (or the `RateLimit`
 * header's `t=`), giving up when asked to wait more than 5 minutes. A POST retries only after a
 * 429 or a failure before it was sent (nothing happened), or after asking the caller's lookup
 * whether the create landed.
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
  /** Tries per call (default 5), for faults and for 429s each. */
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
  sleep?: (ms: number, signal?: AbortSignal) => Promise<void>;
  random?: () => number;
  debug?: (line: string) => void;
  /** Called before each retry (for progress lines / debug logs). */
  onRetry?: (info: RetryInfo) => void;
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
  readonly #token: Secret;
  readonly #transport: Transport;

  constructor(options: CloudflareHttpOptions) {
    this.#token = options.token;
    const retry = { attempts: 5, baseDelayMs: 250, maxDelayMs: 8000, maxRetryAfterMs: 300_000, ...options.retry };
    this.#transport = new Transport({
      baseUrl: options.baseUrl,
      label: "cloudflare",
      dispatcher: options.dispatcher,
      connections: 16,
      timeoutMs: options.timeoutMs ?? 30_000,
      signal: options.signal,
      debug: options.debug,
      sleep: options.sleep,
      random: options.random,
      onRetry: options.onRetry,
      retry: {
        attempts: retry.attempts, rateLimitAttempts: retry.attempts, baseDelayMs: retry.baseDelayMs, maxDelayMs: retry.maxDelayMs,
        maxRateWaitMs: retry.maxRetryAfterMs, failRateWaitAboveMs: retry.maxRetryAfterMs,
      },
    });
  }

  call<T>(method: Dispatcher.HttpMethod, path: string, options: CallOptions<T> = {}): Promise<{ result: T; info: ResultInfo | undefined }> {
    const lookup = options.lookup;
    return this.#transport.call<{ result: T; info: ResultInfo | undefined }>({
      method,
      path: `${path}${buildQuery(options.query)}`,
      headers: {
        authorization: `Bearer ${this.#token.reveal()}`,
        accept: "application/json",
        ...(options.body === undefined ? {} : { "content-type": "application/json" }),
      },
      body: options.body === undefined ? undefined : JSON.stringify(options.body),
    }, {
      accept: (reply) => {
        const parsed = parseEnvelope(reply.text);
        return reply.status < 400 && parsed?.success === true ? { value: { result: parsed.result as T, info: parsed.result_info as ResultInfo | undefined } } : undefined;
      },
      error: (failure) => failure.reply
        ? apiError(failure.reply.status, parseEnvelope(failure.reply.text), failure.reply.headers, method, path)
        : new ProviderApiError(`cannot reach the Cloudflare API at ${this.#transport.origin}: ${failure.network!.message}`, { provider: "cloudflare", status: 0, method, path, cause: failure.network!.cause }),
      // A PATCH sends the whole record: repeating it is harmless. Only a create is ambiguous.
      classify: (_failure, standard) => (standard === "ambiguous" && method !== "POST" ? "safe" : standard),
      ...(lookup ? {
        ambiguous: async () => {
          const found = await lookup();
          return found === undefined ? "retry" as const : { value: { result: found, info: undefined } };
        },
      } : {}),
    });
  }

  close(): Promise<void> {
    return this.#transport.close();
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

function apiError(status: number, envelope: Envelope | undefined, headers: Record<string, string>, method: string, path: string): Error {
  const errors = Array.isArray(envelope?.errors) ? envelope.errors : [];
  const all = flatten(errors);
  const codes = all.map((e) => e.code);
  // The innermost message says what is wrong ("DNS record has 1 tags, exceeding the quota of 0").
  const text = errors.length
    ? errors.map((e) => [e, ...flatten(e.error_chain ?? [])].map((m) => `${m.message} (${m.code})`).join(": ")).join("; ")
    : `HTTP ${status} without a Cloudflare error body`;
  const requestId = headers["cf-ray"];
  const init: ProviderApiErrorInit = { provider: "cloudflare", status, method, path, ...(requestId ? { requestId } : {}), ...(codes.length ? { providerCode: String(codes[0]) } : {}) };
  if (codes.includes(7003)) init.hint = "check cloudflare.zoneId (AUTOMNA_CLOUDFLARE_ZONE_ID): the zone id is unknown or not reachable with this token";
  const error = new CloudflareApiError(`Cloudflare API: ${text}`, init, codes);
  if (status === 401 || status === 403 || codes.some((c) => AUTH_CODES.has(c))) {
    return new AuthError(`Cloudflare rejected the API token: ${text}`, { hint: TOKEN_HINT, cause: error });
  }
  return error;
}
