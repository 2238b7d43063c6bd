import { Pool, type Dispatcher } from "undici";
import { AuthError, ProviderApiError, isAbortError, type AutomnaError, type FieldError } from "./errors.js";
import { RateBudget, sleep } from "./rate-budget.js";
import type { Secret } from "./redact.js";
import { buildQuery, headerMap, networkCode, retryAfterMs } from "./http-util.js";

export { buildQuery, retryAfterMs } from "./http-util.js";

/**
 * The one HTTP layer to provider APIs, on undici: a keep-alive pool per base URL, timeouts, the
 * caller's AbortSignal, typed errors parsed from each provider's error body, request ids kept,
 * debug logging (tokens redacted by io.debug), a client-side rate budget, and retries that know
 * what is safe to repeat:
 * - a failure before the request was sent (connection refused, DNS) retries for any method;
 * - GET/HEAD/PUT/DELETE retry on 408, 5xx, timeouts and resets, with jittered exponential backoff;
 * - a POST that may have reached the server is never resent here: the caller gets an error for
 *   which mayHaveCommitted() is true and looks its operation marker up first;
 * - 429 waits for Retry-After / RateLimit-Reset (and drains the budget), then retries any method,
 *   since a refused request was not applied.
 */

/** What a provider's error body says, normalised. */
export interface ParsedApiError {
  message: string;
  code?: string | undefined;
  fields?: FieldError[] | undefined;
  requestId?: string | undefined;
}

export type ErrorParser = (status: number, body: unknown) => ParsedApiError;

export type Query = Record<string, string | number | boolean | undefined | readonly (string | number)[]>;

export interface HttpClientOptions {
  /** Provider id, for errors. */
  provider: string;
  /** Human title, for messages ("Hetzner Cloud"). */
  title: string;
  /** Base URL including any path prefix (`https://api.hetzner.cloud/v1`). */
  baseUrl: string;
  token: Secret | undefined;
  /** Environment variable that holds the token, named in auth errors. */
  tokenEnv: string;
  /** Config key of the URL, named when the API is unreachable. */
  urlKey: string;
  parseError: ErrorParser;
  budget?: RateBudget | undefined;
  /** Debug log (already redacting). */
  debug?: ((message: string) => void) | undefined;
  signal?: AbortSignal | undefined;
  /** Per-request timeout (default 30 s). */
  timeoutMs?: number | undefined;
  /** Retries after the first attempt for retryable failures (default 4). */
  retries?: number | undefined;
  /** Backoff base (default 250 ms); the n-th retry waits up to base * 2^n, capped at 8 s. */
  backoffMs?: number | undefined;
  /** For unit tests (undici MockAgent); otherwise a Pool per origin is created. */
  dispatcher?: Dispatcher | undefined;
  userAgent?: string | undefined;
}

export interface RequestOptions {
  query?: Query | undefined;
  body?: unknown;
  /** Non-2xx statuses that are answers, not errors (e.g. 404 for a lookup). */
  allow?: readonly number[] | undefined;
  /** Budget key for per-action limits (Fly). */
  budgetKey?: string | undefined;
  timeoutMs?: number | undefined;
  headers?: Record<string, string> | undefined;
  /** The body holds secret values: never logged, even redacted. */
  sensitive?: boolean | undefined;
}

export interface HttpResponse<T> {
  status: number;
  headers: Record<string, string>;
  body: T;
  requestId: string | undefined;
}

const IDEMPOTENT = new Set(["GET", "HEAD", "PUT", "DELETE", "OPTIONS"]);
/** Error codes undici or Node raise before a single byte of the request went out. */
const NOT_SENT = new Set(["ECONNREFUSED", "ENOTFOUND", "EAI_AGAIN", "EHOSTUNREACH", "ENETUNREACH", "EADDRNOTAVAIL", "UND_ERR_CONNECT_TIMEOUT"]);
const REQUEST_ID_HEADERS = ["x-request-id", "fly-request-id", "x-amzn-requestid", "cf-ray"];

/** True when a failed write may nevertheless have been applied by the provider. */
export function mayHaveCommitted(error: unknown): boolean {
  if (!(error instanceof ProviderApiError)) return false;
  if (error.status === 408 || error.status >= 500) return true;
  return error.status === 0 && (error.providerCode === "timeout" || error.providerCode === "connection_reset");
}

export function isUnreachable(error: unknown): boolean {
  return error instanceof ProviderApiError && error.status === 0 && error.providerCode === "unreachable";
}

export class HttpClient {
  readonly options: HttpClientOptions;
  readonly #origin: string;
  readonly #basePath: string;
  #pool: Dispatcher | undefined;

  constructor(options: HttpClientOptions) {
    this.options = options;
    const url = new URL(options.baseUrl);
    this.#origin = url.origin;
    this.#basePath = url.pathname.replace(/\/+$/, "");
  }

  get baseUrl(): string {
    return this.options.baseUrl;
  }

  #dispatcher(): Dispatcher {
    this.#pool ??= this.options.dispatcher ?? new Pool(this.#origin, {
      connections: 32,
      keepAliveTimeout: 10_000,
      // Per-request deadlines come from each call's AbortSignal; Fly's /wait holds a request 60 s.
      headersTimeout: 0,
      bodyTimeout: 0,
    });
    return this.#pool;
  }

  /** Closes the keep-alive pool (not an injected dispatcher). */
  async close(): Promise<void> {
    const pool = this.#pool;
    this.#pool = undefined;
    if (pool && pool !== this.options.dispatcher) await pool.close();
  }

  #token(): string {
    const token = this.options.token;
    if (!token) {
      throw new AuthError(`no ${this.options.title} API token`, {
        hint: `export ${this.options.tokenEnv}=<token>, or pipe it into: automna config set ${this.options.provider}.token -`,
      });
    }
    return token.reveal();
  }

  get<T>(path: string, options: RequestOptions = {}): Promise<HttpResponse<T>> {
    return this.request<T>("GET", path, options);
  }
  post<T>(path: string, body: unknown, options: RequestOptions = {}): Promise<HttpResponse<T>> {
    return this.request<T>("POST", path, { ...options, body });
  }
  delete<T>(path: string, options: RequestOptions = {}): Promise<HttpResponse<T>> {
    return this.request<T>("DELETE", path, options);
  }

  async request<T>(method: string, path: string, options: RequestOptions = {}): Promise<HttpResponse<T>> {
    const token = this.#token();
    const retries = this.options.retries ?? 4;
    const idempotent = IDEMPOTENT.has(method);
    const signal = this.options.signal;
    let attempt = 0;
    let limited = 0;
    for (;;) {
      signal?.throwIfAborted();
      await this.options.budget?.acquire(options.budgetKey, signal);
      try {
        const res = await this.#once<T>(method, path, options, token);
        this.options.budget?.settle(options.budgetKey);
        return res;
      } catch (error) {
        this.options.budget?.settle(options.budgetKey);
        if (isAbortError(error) && signal?.aborted) throw error;
        if (!(error instanceof ProviderApiError)) throw error;
        if (error.status === 429) {
          // Refused, so not applied: safe to resend any method once the budget allows.
          this.options.budget?.drain(options.budgetKey);
          if (++limited > 20) throw error;
          const wait = (error as RateLimitedError).waitMs ?? this.#backoff(limited);
          this.options.debug?.(`${this.options.provider}: 429, waiting ${wait} ms`);
          await sleep(Math.min(wait, 60_000), signal);
          continue;
        }
        const notSent = error.status === 0 && error.providerCode === "unreachable";
        const transient = error.status === 408 || error.status >= 500 || (error.status === 0 && !notSent);
        // An unreachable API is retried briefly: it is more often down than flapping.
        if ((notSent ? attempt < Math.min(2, retries) : transient && idempotent && attempt < retries)) {
          attempt++;
          const wait = this.#backoff(attempt);
          this.options.debug?.(`${this.options.provider}: ${method} ${path} failed (${error.message}); retry ${attempt}/${retries} in ${wait} ms`);
          await sleep(wait, signal);
          continue;
        }
        throw error;
      }
    }
  }

  #backoff(attempt: number): number {
    const base = this.options.backoffMs ?? 250;
    const cap = Math.min(8000, base * 2 ** (attempt - 1));
    // "Full jitter": spreads retries of many concurrent callers apart.
    return Math.round(cap / 2 + Math.random() * (cap / 2));
  }

  async #once<T>(method: string, path: string, options: RequestOptions, token: string): Promise<HttpResponse<T>> {
    const fullPath = `${this.#basePath}${path}${buildQuery(options.query)}`;
    const timeoutMs = options.timeoutMs ?? this.options.timeoutMs ?? 30_000;
    const signals = [AbortSignal.timeout(timeoutMs), ...(this.options.signal ? [this.options.signal] : [])];
    const body = options.body === undefined ? undefined : JSON.stringify(options.body);
    const started = performance.now();
    const debug = this.options.debug;
    const shown = body === undefined ? "" : options.sensitive ? " <body with secrets not shown>" : ` ${body.length > 2000 ? `${body.slice(0, 2000)}…` : body}`;
    debug?.(`→ ${method} ${this.#origin}${fullPath}${shown}`);
    let res: Dispatcher.ResponseData;
    try {
      res = await this.#dispatcher().request({
        origin: this.#origin,
        path: fullPath,
        method: method as Dispatcher.HttpMethod,
        headers: {
          authorization: `Bearer ${token}`,
          accept: "application/json",
          "user-agent": this.options.userAgent ?? "automna",
          ...(body !== undefined ? { "content-type": "application/json" } : {}),
          ...options.headers,
        },
        body,
        signal: AbortSignal.any(signals),
      });
    } catch (error) {
      throw this.#networkError(method, path, error, timeoutMs);
    }
    const headers = headerMap(res.headers);
    const requestId = REQUEST_ID_HEADERS.map((h) => headers[h]).find((v) => v !== undefined);
    let text: string;
    try {
      text = await res.body.text();
    } catch (error) {
      throw this.#networkError(method, path, error, timeoutMs);
    }
    const ms = Math.round(performance.now() - started);
    debug?.(`← ${res.statusCode} ${method} ${fullPath} ${ms} ms${requestId ? ` request-id ${requestId}` : ""}${res.statusCode >= 400 ? ` ${text.slice(0, 1000)}` : ""}`);
    const remaining = Number(headers["ratelimit-remaining"]);
    if (headers["ratelimit-remaining"] !== undefined && Number.isFinite(remaining)) {
      // RateLimit-Reset is an epoch in seconds (Hetzner, DigitalOcean); anything smaller is not.
      const reset = Number(headers["ratelimit-reset"]);
      this.options.budget?.sync(remaining, Number.isFinite(reset) && reset > 1e9 ? reset * 1000 : undefined);
    }
    let parsed: unknown = undefined;
    if (text !== "") {
      try {
        parsed = JSON.parse(text);
      } catch {
        parsed = text;
      }
    }
    const ok = (res.statusCode >= 200 && res.statusCode < 300) || options.allow?.includes(res.statusCode) === true;
    if (ok) return { status: res.statusCode, headers, body: parsed as T, requestId };
    throw this.#apiError(method, path, res.statusCode, headers, parsed, requestId);
  }

  #apiError(method: string, path: string, status: number, headers: Record<string, string>, body: unknown, requestId: string | undefined): AutomnaError {
    const parsed = body !== undefined && typeof body === "object" && body !== null
      ? this.options.parseError(status, body)
      : { message: typeof body === "string" && body.trim() ? body.trim().slice(0, 200) : `HTTP ${status}` };
    const rid = parsed.requestId ?? requestId;
    const title = this.options.title;
    if (status === 401) {
      return new AuthError(`${title} rejected the API token (401 ${parsed.code ?? "unauthorized"}: ${parsed.message})`, {
        hint: `check ${this.options.tokenEnv} (or ${this.options.provider}.token in the config): it is missing, expired or for another account`,
      });
    }
    // A field line adds what the message does not already say (DigitalOcean and Fly name the
    // field only in their message, from which the parsers take it).
    const fieldLines = (parsed.fields ?? []).map((f) => `${f.field}: ${f.messages.join("; ")}`).filter((line) => !line.endsWith(`: ${parsed.message}`));
    const message = `${title} API: ${method} ${path} failed with ${status}${parsed.code ? ` ${parsed.code}` : ""}: ${parsed.message}${fieldLines.length ? `\n  ${fieldLines.join("\n  ")}` : ""}`;
    const init = {
      provider: this.options.provider, status, providerCode: parsed.code, requestId: rid, fields: parsed.fields, method, path,
      hint: status === 403 ? `the token in ${this.options.tokenEnv} lacks permission for this` : rid ? `provider request id ${rid}` : undefined,
    };
    if (status === 429) return new RateLimitedError(message, init, retryAfterMs(headers, Date.now()));
    return new ProviderApiError(message, init);
  }

  #networkError(method: string, path: string, error: unknown, timeoutMs: number): unknown {
    if (this.options.signal?.aborted) return error;
    const code = networkCode(error);
    const title = this.options.title;
    const where = `${this.#origin}${this.#basePath}`;
    const base = { provider: this.options.provider, status: 0, method, path, cause: error };
    if (code !== undefined && NOT_SENT.has(code)) {
      return new ProviderApiError(`cannot reach the ${title} API at ${where} (${code})`, {
        ...base, providerCode: "unreachable", hint: `check ${this.options.urlKey} (or its environment variable) and your network; nothing was changed`,
      });
    }
    if (isAbortError(error) || code === "UND_ERR_HEADERS_TIMEOUT" || code === "UND_ERR_BODY_TIMEOUT" || (error as Error).name === "TimeoutError") {
      return new ProviderApiError(`the ${title} API did not answer ${method} ${path} within ${Math.round(timeoutMs / 1000)} s`, { ...base, providerCode: "timeout" });
    }
    return new ProviderApiError(`the connection to the ${title} API broke during ${method} ${path} (${code ?? (error as Error).message})`, {
      ...base, providerCode: "connection_reset",
    });
  }
}

/** A 429, carrying how long the server asked us to wait. */
export class RateLimitedError extends ProviderApiError {
  readonly waitMs: number | undefined;
  constructor(message: string, init: ConstructorParameters<typeof ProviderApiError>[1], waitMs: number | undefined) {
    super(message, init);
    this.waitMs = waitMs;
  }
}
