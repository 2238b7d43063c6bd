import type { Dispatcher } from "undici";
import { AuthError, ProviderApiError, type AutomnaError, type FieldError } from "./errors.js";
import type { RateBudget } from "./rate-budget.js";
import type { Secret } from "./redact.js";
import { Transport, type NetworkFailure, type Reply } from "./http-transport.js";
import { buildQuery, requestIdOf, type Query } from "./http-util.js";

export { buildQuery, retryAfterMs, type Query } from "./http-util.js";

/**
 * The provider API client (Hetzner, Fly, DigitalOcean) on the shared transport
 * (src/lib/http-transport.ts): bearer token, JSON, typed errors parsed from each provider's error
 * body, request ids kept, the provider's rate budget, and retries that know what is safe to repeat:
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
  /** A sink per attempt for a 2xx answer's body, chunk by chunk as it arrives (the response's body is then empty): OutgoingRequest.streamBody. */
  streamBody?: (() => (chunk: Buffer) => void) | undefined;
}

export interface HttpResponse<T> {
  status: number;
  headers: Record<string, string>;
  body: T;
  requestId: string | undefined;
}

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
  readonly #transport: Transport;

  constructor(options: HttpClientOptions) {
    this.options = options;
    this.#transport = new Transport({
      baseUrl: options.baseUrl,
      label: options.provider,
      dispatcher: options.dispatcher,
      connections: 32,
      timeoutMs: options.timeoutMs ?? 30_000,
      signal: options.signal,
      budget: options.budget,
      debug: options.debug,
      retry: { attempts: (options.retries ?? 4) + 1, baseDelayMs: options.backoffMs ?? 250, maxDelayMs: 8000, rateLimitAttempts: 21, maxRateWaitMs: 60_000 },
    });
  }

  get baseUrl(): string {
    return this.options.baseUrl;
  }

  /** Closes the keep-alive pool (not an injected dispatcher). */
  close(): Promise<void> {
    return this.#transport.close();
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
    const body = options.body === undefined ? undefined : JSON.stringify(options.body);
    // An unreachable API is retried briefly: it is more often down than flapping.
    const unreachableTries = Math.min(2, this.options.retries ?? 4) + 1;
    return this.#transport.call<HttpResponse<T>>({
      method: method as Dispatcher.HttpMethod,
      path: `${path}${buildQuery(options.query)}`,
      headers: {
        authorization: `Bearer ${token}`,
        accept: "application/json",
        "user-agent": this.options.userAgent ?? "automna",
        ...(body !== undefined ? { "content-type": "application/json" } : {}),
        ...options.headers,
      },
      body,
      timeoutMs: options.timeoutMs,
      budgetKey: options.budgetKey,
      sensitive: options.sensitive,
      streamBody: options.streamBody,
    }, {
      accept: (reply) => {
        const ok = (reply.status >= 200 && reply.status < 300) || options.allow?.includes(reply.status) === true;
        return ok ? { value: { status: reply.status, headers: reply.headers, body: parseBody(reply.text) as T, requestId: requestIdOf(reply.headers) } } : undefined;
      },
      error: (failure) => failure.reply ? this.#apiError(method, path, failure.reply) : this.#networkError(method, path, failure.network!),
      // A POST that may have reached the provider stays "ambiguous" and is not resent here.
      classify: (failure, standard) => (failure.network?.kind === "not_sent" && failure.attempt >= unreachableTries ? undefined : standard),
    });
  }

  #apiError(method: string, path: string, reply: Reply): AutomnaError {
    const { status } = reply;
    const body = parseBody(reply.text);
    const parsed = body !== undefined && typeof body === "object" && body !== null
      ? this.options.parseError(status, body)
      : { message: typeof body === "string" && body.trim() ? body.trim().slice(0, 200) : `HTTP ${status}` };
    const rid = parsed.requestId ?? requestIdOf(reply.headers);
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
    return new ProviderApiError(message, {
      provider: this.options.provider, status, providerCode: parsed.code, requestId: rid, fields: parsed.fields, method, path,
      hint: status === 403 ? `the token in ${this.options.tokenEnv} lacks permission for this` : rid ? `provider request id ${rid}` : undefined,
    });
  }

  #networkError(method: string, path: string, failure: NetworkFailure): ProviderApiError {
    const title = this.options.title;
    const where = `${this.#transport.origin}${this.#transport.basePath}`;
    const base = { provider: this.options.provider, status: 0, method, path, cause: failure.cause };
    if (failure.kind === "not_sent") {
      return new ProviderApiError(`cannot reach the ${title} API at ${where} (${failure.code})`, {
        ...base, providerCode: "unreachable", hint: `check ${this.options.urlKey} (or its environment variable) and your network; nothing was changed`,
      });
    }
    if (failure.kind === "timeout") {
      return new ProviderApiError(`the ${title} API did not answer ${method} ${path} within ${Math.round(failure.timeoutMs / 1000)} s`, { ...base, providerCode: "timeout" });
    }
    return new ProviderApiError(`the connection to the ${title} API broke during ${method} ${path} (${failure.code ?? failure.message})`, {
      ...base, providerCode: "connection_reset",
    });
  }
}

function parseBody(text: string): unknown {
  if (text === "") return undefined;
  try {
    return JSON.parse(text);
  } catch {
    return text;
  }
}
