import { randomUUID } from "node:crypto";
import { AuthError, AutomnaError, ConflictError, LockedError, NotFoundError, UsageError } from "../lib/errors.js";
import { NetworkFailure, Transport, type Failure, type Reply, type RetryInfo } from "../lib/http-transport.js";
import { buildQuery } from "../lib/http-util.js";
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

/** How long state-store calls keep retrying through an outage of the server, by default. */
export const DEFAULT_STATE_RETRY_FOR_MS = 60_000;
/**
 * Tries of a call before the server has answered this client once: a server that was never
 * there is more likely misconfigured than restarting, so that is said within ~1.5 s.
 */
const FIRST_CONTACT_ATTEMPTS = 5;

/**
 * What the state client reports while the server does not answer, so a caller can say so (the
 * migrate board: "waiting for the state server") and act when it is back (renew its lease):
 * - `waiting`: a call failed for want of the server (refused, reset, timed out, 502/503/504) and
 *   is tried again in `retryInMs`; `downForMs` counts from the first failed attempt of this
 *   outage; `giveUpInMs` is how long that call keeps trying (`state.retryFor`) before it fails.
 *   Sent before every retry of every call, so a listener should show the latest, not each one.
 * - `recovered`: the server answered again after an outage of `downForMs`.
 * Only for a server this client has had an answer from: a first contact that fails is a
 * configuration error, reported within a few tries.
 */
export type StateWaitEvent =
  | { kind: "waiting"; url: string; reason: string; downForMs: number; retryInMs: number; giveUpInMs: number }
  | { kind: "recovered"; url: string; downForMs: number };

export type StateWaitListener = (event: StateWaitEvent) => void;

export interface HttpClientOptions {
  token?: Secret | undefined;
  /** PEM of a CA to trust for an https state server with a private certificate. */
  ca?: string | Buffer | undefined;
  /** Keep-alive connections to the server. */
  connections?: number | undefined;
  /** Most tries per call (default: as many as `retryForMs` allows). */
  attempts?: number | undefined;
  /** How long a call keeps retrying while a server that answered before is down (default 60 s). */
  retryForMs?: number | undefined;
  timeoutMs?: number | undefined;
  debug?: ((line: string) => void) | undefined;
  /**
   * Ctrl-C: ends the waits between retries at once. A request in flight and a new call still go
   * (one try each), so a command can record its cancel and release its lease on the way out.
   */
  signal?: AbortSignal | undefined;
}

/** Gateway answers: the server behind may or may not have applied the request. */
const UNKNOWN_OUTCOME = new Set([502, 503, 504]);

/**
 * JSON to the state server over the shared transport (src/lib/http-transport.ts): bearer token,
 * request ids, typed errors from the server's error document, and retries that cannot apply a
 * write twice. Every mutation carries an Idempotency-Key made once per call and reused by its
 * retries, so a write whose response was lost (reset, timeout, a gateway's 502/504) is retried
 * like a read: the server answers a repeat from its record instead of applying it again. Once
 * the server has answered, an outage is waited out for `retryForMs` (see StateWaitEvent).
 */
export class StateHttpClient {
  readonly #transport: Transport;
  readonly #options: HttpClientOptions;
  readonly #retryForMs: number;
  readonly #listeners = new Set<StateWaitListener>();
  /** Whether the server has shown it honours idempotency keys (unknown until its first answer). */
  #keysHonoured = false;
  /** Whether the server has answered this client at all. */
  #reached = false;
  /** When the current outage began (performance.now()), while there is one. */
  #downSince: number | undefined;

  constructor(base: URL, options: HttpClientOptions) {
    this.#options = options;
    this.#retryForMs = options.retryForMs ?? DEFAULT_STATE_RETRY_FOR_MS;
    this.#transport = new Transport({
      baseUrl: base,
      label: "state",
      connections: options.connections ?? 8,
      ca: options.ca,
      timeoutMs: options.timeoutMs ?? 30_000,
      signal: options.signal,
      signalScope: "waits",
      debug: options.debug,
      onRetry: (info) => this.#waiting(info),
      retry: { attempts: options.attempts ?? Infinity, retryForMs: this.#retryForMs, baseDelayMs: 100, maxDelayMs: 2000 },
    });
  }

  get origin(): string {
    return this.#transport.origin;
  }

  /** Listens for outages of the server (see StateWaitEvent); returns the unsubscribe. */
  onWait(listener: StateWaitListener): () => void {
    this.#listeners.add(listener);
    return () => void this.#listeners.delete(listener);
  }

  close(): Promise<void> {
    return this.#transport.close();
  }

  #emit(event: StateWaitEvent): void {
    for (const listener of this.#listeners) listener(event);
  }

  #waiting(info: RetryInfo): void {
    if (!this.#reached) return;
    const now = performance.now();
    this.#downSince ??= now - info.elapsedMs;
    this.#emit({
      kind: "waiting", url: this.origin, reason: info.reason, downForMs: Math.round(now - this.#downSince), retryInMs: info.delayMs,
      giveUpInMs: Math.max(0, Math.round(this.#retryForMs - info.elapsedMs)),
    });
  }

  /** Learns from every answer: the server is there, and whether it honours keys. */
  #heard(reply: Reply): void {
    if (reply.headers[KEYS_HONOURED_HEADER] === "1") this.#keysHonoured = true;
    if (UNKNOWN_OUTCOME.has(reply.status) && reply.headers[KEYS_HONOURED_HEADER] !== "1") return;
    this.#reached = true;
    if (this.#downSince !== undefined && !UNKNOWN_OUTCOME.has(reply.status)) {
      const downForMs = Math.round(performance.now() - this.#downSince);
      this.#downSince = undefined;
      this.#emit({ kind: "recovered", url: this.origin, downForMs });
    }
  }

  /**
   * A mutation whose outcome is unknown is retried only on a server known to honour its key: an
   * older one would apply it again. Not known yet (no answer seen): ask its health endpoint.
   */
  async #honoursKeys(): Promise<boolean> {
    if (this.#keysHonoured) return true;
    const probe = await this.#transport.once({ method: "GET", path: "/healthz" });
    if (!(probe instanceof NetworkFailure)) this.#heard(probe);
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
    /** Some attempt may have reached the server and been applied (its answer lost). */
    let mayHaveApplied = false;
    return this.#transport.call<T | undefined>({ method, path: `${path}${buildQuery(options.query)}`, headers, body }, {
      accept: (reply) => {
        this.#heard(reply);
        if (reply.headers[REPLAYED_HEADER] === "true") this.#options.debug?.(`state: ${method} ${path} answered from the idempotency record (${requestId})`);
        if (UNKNOWN_OUTCOME.has(reply.status)) return undefined;
        if (reply.status === 204) return { value: undefined };
        if (reply.status >= 200 && reply.status < 300) return { value: parseJson(reply.text) as T };
        if (reply.status === 404 && options.allow404) return { value: undefined };
        return undefined;
      },
      classify: (failure) => {
        if (failure.network?.kind === "tls") return undefined;
        if (failure.reply && !UNKNOWN_OUTCOME.has(failure.reply.status)) return undefined;
        if (!this.#reached && failure.attempt >= FIRST_CONTACT_ATTEMPTS) return undefined;
        // Reads, and requests that never left; a mutation otherwise only with its key honoured.
        return method === "GET" || failure.network?.kind === "not_sent" ? "safe" : "ambiguous";
      },
      ambiguous: async () => {
        mayHaveApplied = true;
        return (await this.#honoursKeys()) ? "retry" : "fail";
      },
      error: (failure) => {
        if (failure.reply) return errorFromResponse(failure.reply.status, parseJson(failure.reply.text), requestId);
        return this.#unreachable(failure, mayHaveApplied || failure.network!.kind !== "not_sent");
      },
    });
  }

  #unreachable(failure: Failure, mayHaveApplied: boolean): AutomnaError {
    const network = failure.network!;
    const what = network.code ?? network.message;
    if (network.kind === "tls") {
      // Retrying cannot fix trust; say what will.
      return new AutomnaError(`cannot reach the state server at ${this.origin}: its TLS certificate is not trusted (${what})`, {
        code: "state_tls", hint: "point state.caFile (AUTOMNA_STATE_CA_FILE) at the PEM of the CA that signed it", cause: network.cause,
      });
    }
    const outOfTime = this.#reached && failure.elapsedMs >= this.#retryForMs;
    return new AutomnaError(`cannot reach the state server at ${this.origin}: ${what}${outOfTime ? ` (retried for ${Math.round(failure.elapsedMs / 1000)} s)` : ""}`, {
      code: "state_unreachable",
      hint: `${mayHaveApplied ? "the request may or may not have been applied; check with a read before retrying" : "is `automna state serve` running there? check state.url"}${outOfTime ? "; state.retryFor (AUTOMNA_STATE_RETRY_FOR) sets how long to wait" : ""}`,
      cause: network.cause,
    });
  }
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
