import { createRequire } from "node:module";
import type { Dispatcher, Pool } from "undici";
import { sleep as abortableSleep, type RateBudget } from "./rate-budget.js";
import { redact } from "./redact.js";
import { backoffMs, headerMap, networkKind, requestIdOf, retryAfterMs } from "./http-util.js";
import { DEFAULT_RETRY, NetworkFailure, retryClass, type CallHandler, type Failure, type OutgoingRequest, type Reply, type RetryClass, type RetryInfo, type RetryPolicy } from "./http-retry.js";

export * from "./http-retry.js";

/**
 * The one HTTP transport under every client automna has (providers, Cloudflare DNS, object
 * storage, the state server): a keep-alive undici pool per origin, a deadline per request, the
 * caller's AbortSignal, failures without an answer classified (never sent vs may have
 * committed), jittered exponential backoff, Retry-After / RateLimit-* honoured and fed to the
 * client's rate budget, and debug lines with secrets redacted.
 *
 * Clients plug in what differs: how an answer becomes a value or their typed error, and which
 * failures they dare to retry (a create whose answer was lost is looked up by its marker, the
 * state server's writes carry idempotency keys). Every wait here (backoff, Retry-After, the
 * budget) ends the moment the signal aborts, so Ctrl-C never sits out a 300 s Retry-After.
 */

export interface TransportOptions {
  /** Requests go to its origin; their paths are appended to its path. */
  baseUrl: string | URL;
  /** Names the client in debug lines ("hetzner", "state"). */
  label: string;
  /** An injected dispatcher (undici MockAgent in unit tests); not closed by close(). */
  dispatcher?: Dispatcher | undefined;
  connections?: number | undefined;
  /** PEM of a CA to trust (a private https server). */
  ca?: string | Buffer | undefined;
  /** Deadline per attempt, unless the request names one (default 30 s). */
  timeoutMs?: number | undefined;
  signal?: AbortSignal | undefined;
  /**
   * What the signal cuts short: `request` (default) also requests in flight and new calls;
   * `waits` only the waits between attempts, so writes that record a cancel can still be made.
   */
  signalScope?: "request" | "waits" | undefined;
  budget?: RateBudget | undefined;
  retry?: Partial<RetryPolicy> | undefined;
  /** Debug lines; redacted here as well as by the io module. */
  debug?: ((line: string) => void) | undefined;
  /** Before every wait for a retry. */
  onRetry?: ((info: RetryInfo) => void) | undefined;
  /** Injected by tests that advance a fake clock instead of waiting. */
  sleep?: ((ms: number, signal?: AbortSignal) => Promise<void>) | undefined;
  random?: (() => number) | undefined;
}

let poolClass: typeof Pool | undefined;

/**
 * undici's Pool with its request API, loaded at the first request, without the rest of undici's
 * index (fetch, WebSocket, caches, mocks: as much start-up CPU again, per command). The index
 * adds the request API to Dispatcher.prototype; so does this. Should undici's files move, the
 * index itself.
 */
function PoolClass(): typeof Pool {
  if (poolClass) return poolClass;
  const load = createRequire(import.meta.url);
  try {
    const pool = load("undici/lib/dispatcher/pool.js") as typeof Pool;
    const dispatcher = load("undici/lib/dispatcher/dispatcher.js") as { prototype: object };
    if (typeof pool.prototype.request !== "function") Object.assign(dispatcher.prototype, load("undici/lib/api/index.js") as object);
    if (typeof pool.prototype.request === "function") poolClass = pool;
  } catch {
    // undici's layout changed
  }
  poolClass ??= (load("undici") as typeof import("undici")).Pool;
  return poolClass;
}

export class Transport {
  readonly origin: string;
  readonly basePath: string;
  readonly #options: TransportOptions;
  readonly #policy: RetryPolicy;
  #pool: Dispatcher | undefined;

  constructor(options: TransportOptions) {
    const url = new URL(options.baseUrl);
    this.origin = url.origin;
    this.basePath = url.pathname.replace(/\/+$/, "");
    this.#options = options;
    this.#policy = { ...DEFAULT_RETRY, ...options.retry };
  }

  #dispatcher(): Dispatcher {
    this.#pool ??= this.#options.dispatcher ?? new (PoolClass())(this.origin, {
      connections: this.#options.connections ?? 16,
      keepAliveTimeout: 10_000,
      // Each attempt's deadline is its own timeout signal (Fly's /wait holds a request 60 s).
      headersTimeout: 0,
      bodyTimeout: 0,
      ...(this.#options.ca ? { connect: { ca: this.#options.ca } } : {}),
    });
    return this.#pool;
  }

  /** Closes the keep-alive pool (not an injected dispatcher). */
  async close(): Promise<void> {
    const pool = this.#pool;
    this.#pool = undefined;
    if (pool && pool !== this.#options.dispatcher) await pool.close();
  }

  #debug(line: string): void {
    this.#options.debug?.(redact(line));
  }

  /** One attempt: the answer, or how it failed. Rejects only when the caller's signal aborted it. */
  async once(request: OutgoingRequest): Promise<Reply | NetworkFailure> {
    const { budget, signal } = this.#options;
    const caller = this.#options.signalScope === "waits" ? undefined : signal;
    caller?.throwIfAborted();
    await budget?.acquire(request.budgetKey, signal);
    const timeoutMs = request.timeoutMs ?? this.#options.timeoutMs ?? 30_000;
    const timeout = AbortSignal.timeout(timeoutMs);
    const path = `${this.basePath}${request.path}`;
    const headers = typeof request.headers === "function" ? request.headers() : request.headers;
    const body = request.body;
    const shown = body === undefined ? "" : request.sensitive ? " <body with secrets not shown>" : typeof body !== "string" ? ` <${body.length} bytes>` : ` ${body.length > 2000 ? `${body.slice(0, 2000)}…` : body}`;
    this.#debug(`→ ${request.method} ${this.origin}${path}${shown}`);
    const started = performance.now();
    try {
      const res = await this.#dispatcher().request({
        origin: this.origin, path, method: request.method, headers, body: body ?? null, signal: caller ? AbortSignal.any([timeout, caller]) : timeout,
      });
      const sink = res.statusCode >= 200 && res.statusCode < 300 ? request.streamBody?.() : undefined;
      if (sink) for await (const chunk of res.body) sink(chunk as Buffer);
      const text = sink ? "" : await res.body.text();
      const reply: Reply = { status: res.statusCode, headers: headerMap(res.headers), text, ms: Math.round(performance.now() - started) };
      const rid = requestIdOf(reply.headers);
      this.#debug(`← ${reply.status} ${request.method} ${path} ${reply.ms} ms${rid ? ` request-id ${rid}` : ""}${reply.status >= 400 ? ` ${text.slice(0, 1000)}` : ""}`);
      this.#syncBudget(request, reply);
      return reply;
    } catch (error) {
      if (caller?.aborted) throw caller.reason ?? error;
      return new NetworkFailure(networkKind(error, timeout.aborted), error, timeoutMs);
    } finally {
      budget?.settle(request.budgetKey);
    }
  }

  #syncBudget(request: OutgoingRequest, reply: Reply): void {
    const budget = this.#options.budget;
    if (!budget) return;
    // Koyeb's answers carry the same count as `x-ratelimit-remaining`.
    const header = reply.headers["ratelimit-remaining"] ?? reply.headers["x-ratelimit-remaining"];
    const remaining = Number(header);
    if (header !== undefined && Number.isFinite(remaining)) {
      // RateLimit-Reset is an epoch in seconds (Hetzner, DigitalOcean); anything smaller is not.
      const reset = Number(reply.headers["ratelimit-reset"]);
      budget.sync(remaining, Number.isFinite(reset) && reset > 1e9 ? reset * 1000 : undefined);
    }
    if (reply.status === 429) budget.drain(request.budgetKey);
  }

  /** A call with retries: the handler's value, or the handler's error for the last failure. */
  async call<T>(request: OutgoingRequest, handler: CallHandler<T>): Promise<T> {
    const policy = { ...this.#policy, ...handler.policy };
    const started = performance.now();
    let faults = 0;
    let refusals = 0;
    for (;;) {
      const outcome = await this.once(request);
      const reply = outcome instanceof NetworkFailure ? undefined : outcome;
      const network = outcome instanceof NetworkFailure ? outcome : undefined;
      if (reply) {
        const ok = handler.accept(reply);
        if (ok) return ok.value;
      }
      const standard = retryClass(request.method, reply, network);
      const waitAsked = reply?.status === 429 ? retryAfterMs(reply.headers, Date.now())
        : reply?.status === 503 && reply.headers["retry-after"] !== undefined ? retryAfterMs({ "retry-after": reply.headers["retry-after"] }, Date.now()) : undefined;
      const failure: Failure = {
        request, reply, network, retryAfterMs: waitAsked, attempt: faults + (standard === "rate" ? 0 : 1), elapsedMs: performance.now() - started,
        reason: reply ? (reply.status === 429 ? "429 rate limited" : String(reply.status)) : network!.code ?? network!.message,
      };
      const kind = handler.classify ? handler.classify(failure, standard) : standard;
      let delayMs: number;
      if (kind === "rate") {
        refusals++;
        if (refusals >= policy.rateLimitAttempts || (waitAsked ?? 0) > policy.failRateWaitAboveMs) throw handler.error(failure);
        // The server knows when its window reopens: its word wins over our backoff.
        delayMs = Math.min(policy.maxRateWaitMs, waitAsked ?? this.#backoff(refusals, policy));
      } else if (kind !== undefined) {
        faults++;
        const left = policy.retryForMs - failure.elapsedMs;
        if (faults >= policy.attempts || left <= 0) throw handler.error(failure);
        if (kind === "ambiguous") {
          const verdict = handler.ambiguous ? await handler.ambiguous(failure) : "fail";
          if (verdict === "fail") throw handler.error(failure);
          if (verdict !== "retry") return verdict.value;
        }
        delayMs = Math.min(left, policy.maxDelayMs, Math.max(waitAsked ?? 0, this.#backoff(faults, policy)));
      } else {
        throw handler.error(failure);
      }
      await this.#wait(request, failure, kind, kind === "rate" ? refusals : faults, Math.round(delayMs), policy);
    }
  }

  #backoff(n: number, policy: RetryPolicy): number {
    return backoffMs(n, policy.baseDelayMs, policy.maxDelayMs, this.#options.random);
  }

  async #wait(request: OutgoingRequest, failure: Failure, kind: RetryClass, n: number, delayMs: number, policy: RetryPolicy): Promise<void> {
    const { method, path } = request;
    const limit = kind === "rate" ? policy.rateLimitAttempts - 1 : policy.attempts - 1;
    this.#debug(kind === "rate"
      ? `${this.#options.label}: ${method} ${path} ${failure.reply?.status ?? 429}, waiting ${delayMs} ms (${n}/${limit})`
      : `${this.#options.label}: ${method} ${path} failed (${failure.reason}); retry ${n}${Number.isFinite(limit) ? `/${limit}` : ""} in ${delayMs} ms`);
    this.#options.onRetry?.({ method, path, attempt: n, delayMs, reason: failure.reason, retryClass: kind, elapsedMs: failure.elapsedMs });
    await (this.#options.sleep ?? abortableSleep)(delayMs, this.#options.signal);
    // An injected sleep may not know the signal: the wait still ends the call once it aborted.
    this.#options.signal?.throwIfAborted();
  }
}
