import { randomUUID } from "node:crypto";
import type { Pool } from "undici";
import { AuthError, AutomnaError, ConflictError, LockedError, NotFoundError, UsageError } from "../lib/errors.js";
import { newId } from "../lib/ids.js";
import type { Secret } from "../lib/redact.js";
import { IDEMPOTENCY_KEY_HEADER, KEYS_HONOURED_HEADER, REPLAYED_HEADER, REQUEST_ID_HEADER, type WireError } from "./wire.js";

export interface CallOptions {
  body?: unknown;
  query?: Record<string, string | number | boolean | undefined>;
  headers?: Record<string, string>;
  /** A 404 answers undefined instead of throwing (reads of something that may not exist). */
  allow404?: boolean;
}

export interface HttpClientOptions {
  token?: Secret | undefined;
  /** Attempts per call: reads, requests certainly not applied, and keyed mutations whose outcome is unknown. */
  attempts?: number;
  timeoutMs?: number;
  debug?: ((line: string) => void) | undefined;
}

/** Connection failures where the request never reached the server. */
const NOT_SENT = new Set(["ECONNREFUSED", "UND_ERR_CONNECT_TIMEOUT", "ENOTFOUND", "EAI_AGAIN", "EHOSTUNREACH"]);

function errorCode(error: unknown): string | undefined {
  const e = error as { code?: string; cause?: { code?: string } };
  return e.code ?? e.cause?.code;
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** Gateway answers: the server behind may or may not have applied the request. */
const UNKNOWN_OUTCOME = new Set([502, 503, 504]);

/**
 * JSON over one keep-alive undici pool to the state server: bearer token, request ids, typed
 * errors from the server's error document, and retries that cannot apply a write twice. Every
 * mutation carries an Idempotency-Key made once per call and reused by its retries, so a write
 * whose response was lost (reset, timeout, a gateway's 502/504) is retried like a read: the
 * server answers a repeat from its record instead of applying it again.
 */
export class StateHttpClient {
  readonly #pool: Pool;
  readonly #base: URL;
  readonly #options: HttpClientOptions;
  /** Whether the server has shown it honours idempotency keys (unknown until its first answer). */
  #keysHonoured = false;

  constructor(pool: Pool, base: URL, options: HttpClientOptions) {
    this.#pool = pool;
    this.#base = base;
    this.#options = options;
  }

  #path(path: string, query: CallOptions["query"]): string {
    const prefix = this.#base.pathname.replace(/\/+$/, "");
    const params = new URLSearchParams();
    for (const [k, v] of Object.entries(query ?? {})) if (v !== undefined) params.set(k, String(v));
    const qs = params.toString();
    return `${prefix}${path}${qs ? `?${qs}` : ""}`;
  }

  /**
   * A mutation whose outcome is unknown is retried only on a server known to honour its key: an
   * older one would apply it again. Not known yet (no answer seen): ask its health endpoint.
   */
  async #mayRetry(method: string, code: string | undefined): Promise<boolean> {
    if (method === "GET" || NOT_SENT.has(code ?? "") || this.#keysHonoured) return true;
    try {
      const res = await this.#pool.request({ path: this.#path("/healthz", undefined), method: "GET", headersTimeout: this.#options.timeoutMs ?? 30_000 });
      await res.body.dump();
      this.#keysHonoured = res.headers[KEYS_HONOURED_HEADER] === "1";
    } catch {
      // Unreachable now: the next failure asks again.
    }
    return this.#keysHonoured;
  }

  async call<T>(method: "GET" | "POST" | "PUT" | "PATCH" | "DELETE", path: string, options: CallOptions = {}): Promise<T | undefined> {
    const requestId = newId("req");
    const headers: Record<string, string> = { accept: "application/json", [REQUEST_ID_HEADER]: requestId, ...options.headers };
    if (method !== "GET") headers[IDEMPOTENCY_KEY_HEADER] = randomUUID();
    if (this.#options.token) headers.authorization = `Bearer ${this.#options.token.reveal()}`;
    let body: string | undefined;
    if (options.body !== undefined) {
      body = JSON.stringify(options.body);
      headers["content-type"] = "application/json";
    }
    const fullPath = this.#path(path, options.query);
    const attempts = this.#options.attempts ?? 5;
    const timeout = this.#options.timeoutMs ?? 30_000;
    for (let attempt = 1; ; attempt++) {
      const started = Date.now();
      let status: number;
      let text: string;
      let retryAfter: string | undefined;
      let replayed: boolean;
      try {
        const res = await this.#pool.request({ path: fullPath, method, headers, body: body ?? null, headersTimeout: timeout, bodyTimeout: timeout });
        status = res.statusCode;
        text = await res.body.text();
        const ra = res.headers["retry-after"];
        retryAfter = typeof ra === "string" ? ra : undefined;
        replayed = res.headers[REPLAYED_HEADER] === "true";
        if (res.headers[KEYS_HONOURED_HEADER] === "1") this.#keysHonoured = true;
      } catch (error) {
        const code = errorCode(error);
        if (code && /CERT|SELF_SIGNED|UNABLE_TO_VERIFY|ERR_TLS|ERR_SSL/.test(code)) {
          // Retrying cannot fix trust; say what will.
          throw new AutomnaError(`cannot reach the state server at ${this.#base.origin}: its TLS certificate is not trusted (${code})`, {
            code: "state_tls", hint: "point state.caFile (AUTOMNA_STATE_CA_FILE) at the PEM of the CA that signed it", cause: error,
          });
        }
        // Reads, requests that never left, and keyed mutations on a server that honours keys.
        this.#options.debug?.(`state: ${method} ${fullPath} failed (${code ?? (error as Error).message}) attempt ${attempt}/${attempts}`);
        if (attempt < attempts && (await this.#mayRetry(method, code))) {
          await sleep(backoff(attempt));
          continue;
        }
        throw new AutomnaError(`cannot reach the state server at ${this.#base.origin}: ${code ?? (error as Error).message}`, {
          code: "state_unreachable",
          hint: NOT_SENT.has(code ?? "") ? "is `automna state serve` running there? check state.url" : "the request may or may not have been applied; check with a read before retrying",
          cause: error,
        });
      }
      this.#options.debug?.(`state: ${method} ${fullPath} ${status} ${Date.now() - started}ms (${requestId})${replayed ? " replayed" : ""}`);
      if (UNKNOWN_OUTCOME.has(status) && attempt < attempts && (await this.#mayRetry(method, undefined))) {
        await sleep(Math.min(2000, retryAfter && /^\d+$/.test(retryAfter) ? Number(retryAfter) * 1000 : backoff(attempt)));
        continue;
      }
      if (status === 204) return undefined;
      const data = parseJson(text);
      if (status >= 200 && status < 300) return data as T;
      if (status === 404 && options.allow404) return undefined;
      throw errorFromResponse(status, data, requestId);
    }
  }
}

function backoff(attempt: number): number {
  return Math.round(100 * 2 ** (attempt - 1) * (0.5 + Math.random()));
}

function parseJson(text: string): unknown {
  if (text === "") return undefined;
  try {
    return JSON.parse(text) as unknown;
  } catch {
    return { error: { code: "bad_response", message: `the state server sent something that is not JSON: ${text.slice(0, 100)}` } };
  }
}

/** The server's error document back into the typed error the embedded store would have thrown. */
export function errorFromResponse(status: number, data: unknown, requestId: string): AutomnaError {
  const wire: Partial<WireError> = (data as { error?: WireError } | undefined)?.error ?? {};
  const message = wire.message ?? `the state server answered ${status}`;
  const hint = wire.hint;
  const opts = (code: string) => ({ code: wire.code ?? code, ...(hint ? { hint } : {}) });
  switch (status) {
    case 400: return new UsageError(message, opts("invalid_request"));
    case 401: return new AuthError(`state server: ${message}`, opts("unauthorized"));
    case 403: return new AuthError(`state server: ${message}`, opts("forbidden"));
    case 404: return new NotFoundError(message, opts("not_found"));
    case 409:
    case 412: return new ConflictError(message, opts(status === 412 ? "version_conflict" : "conflict"));
    case 422: return new UsageError(message, opts("unprocessable"));
    case 423: return new LockedError(message, wire.holder, opts("locked"));
    case 503: return wire.code === "state_busy" ? new LockedError(message, undefined, opts("state_busy")) : new AutomnaError(message, opts("unavailable"));
    default:
      return new AutomnaError(`state server error ${status}: ${message}`, { code: wire.code ?? `http_${status}`, hint: hint ?? `quote request id ${wire.requestId ?? requestId}` });
  }
}
