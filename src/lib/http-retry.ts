import type { Dispatcher } from "undici";
import { networkCode, type NetworkKind } from "./http-util.js";

/**
 * The vocabulary of the HTTP transport (src/lib/http-transport.ts) and the clients on it: an
 * answer, a failure without one, a request, how a failure may be retried and the policy that
 * bounds it.
 */

/** An answer, whatever its status. */
export interface Reply {
  status: number;
  /** Lower-case names. */
  headers: Record<string, string>;
  text: string;
  ms: number;
}

/** An attempt that got no answer, classified (see NetworkKind). */
export class NetworkFailure extends Error {
  readonly kind: NetworkKind;
  readonly code: string | undefined;
  readonly timeoutMs: number;
  constructor(kind: NetworkKind, cause: unknown, timeoutMs: number) {
    super(kind === "timeout" ? `no answer within ${Math.round(timeoutMs / 1000)} s` : (cause as Error | undefined)?.message ?? String(cause), { cause });
    this.name = "NetworkFailure";
    this.kind = kind;
    this.code = networkCode(cause);
    this.timeoutMs = timeoutMs;
  }
}

export interface OutgoingRequest {
  method: Dispatcher.HttpMethod;
  /** Below the base URL's path, query string included. */
  path: string;
  /** Headers, or a function making them afresh for each attempt (a signature with the time in it). */
  headers?: Record<string, string> | (() => Record<string, string>) | undefined;
  body?: string | Buffer | undefined;
  timeoutMs?: number | undefined;
  /** The rate-budget key of per-action limits (Fly). */
  budgetKey?: string | undefined;
  /** The body holds secret values: never logged, even redacted. */
  sensitive?: boolean | undefined;
  /**
   * Makes the sink a 2xx answer's body goes to chunk by chunk as it arrives (a server-sent event
   * stream, an object hashed as it is read), and the reply's text stays empty; other answers are
   * read whole, as always. Called at the start of each attempt's body: an attempt retried after
   * its stream broke starts over in a fresh sink, never after the chunks of the broken one.
   */
  streamBody?: (() => (chunk: Buffer) => void) | undefined;
}

/**
 * How a failure may be retried: `rate`, refused by a rate limit (not applied: any method, after
 * the wait the server asks for); `safe`, nothing or nothing harmful was applied (a read, a PUT, a
 * request that never left); `ambiguous`, a write that may have been applied (the client decides).
 */
export type RetryClass = "rate" | "safe" | "ambiguous";

export interface Failure {
  request: OutgoingRequest;
  /** The answer, when the server gave one. */
  reply?: Reply | undefined;
  /** Why there was no answer. */
  network?: NetworkFailure | undefined;
  /** How long the server asked us to wait (429: Retry-After or RateLimit-*; 503: Retry-After). */
  retryAfterMs: number | undefined;
  /** Short, for logs: "502", "429 rate limited", "ECONNREFUSED". */
  reason: string;
  /** Failed attempts of this call so far, this one included (rate-limit refusals not counted). */
  attempt: number;
  /** Since the call's first attempt. */
  elapsedMs: number;
}

export interface RetryPolicy {
  /** Tries per call for faults, the first included. */
  attempts: number;
  /** Stop retrying faults this long after the first try (default: no limit but `attempts`). */
  retryForMs: number;
  /** Backoff: the n-th retry waits between half and all of min(maxDelayMs, baseDelayMs * 2^(n-1)). */
  baseDelayMs: number;
  maxDelayMs: number;
  /** Tries per call while a rate limit refuses it. */
  rateLimitAttempts: number;
  /** Longest wait honoured after a 429; a longer Retry-After is waited this long, then tried. */
  maxRateWaitMs: number;
  /** A 429 asking for longer than this gives up at once (default: never). */
  failRateWaitAboveMs: number;
}

export const DEFAULT_RETRY: RetryPolicy = {
  attempts: 5, retryForMs: Infinity, baseDelayMs: 250, maxDelayMs: 8000, rateLimitAttempts: 21, maxRateWaitMs: 60_000, failRateWaitAboveMs: Infinity,
};

/** What a client plugs in for one call. */
export interface CallHandler<T> {
  /** The call's value from an answer, or undefined when the answer is a failure. */
  accept(reply: Reply): { value: T } | undefined;
  /** The error a failure ends the call with (the client's parsed error body, its wording). */
  error(failure: Failure): Error;
  /** How this failure may be retried, given the transport's `standard` view (see retryClass). */
  classify?(failure: Failure, standard: RetryClass | undefined): RetryClass | undefined;
  /** An `ambiguous` failure: retry, give up, or a value found by looking the write up. */
  ambiguous?(failure: Failure): Promise<"retry" | "fail" | { value: T }>;
  policy?: Partial<RetryPolicy> | undefined;
}

export interface RetryInfo {
  method: string;
  path: string;
  /** The n-th retry of this kind (faults and rate-limit refusals counted apart). */
  attempt: number;
  delayMs: number;
  reason: string;
  retryClass: RetryClass;
  elapsedMs: number;
}

const IDEMPOTENT = new Set(["GET", "HEAD", "PUT", "DELETE", "OPTIONS"]);

/**
 * The transport's own view of a failure: a 429 is `rate`; a request that never left is `safe`;
 * 408, 5xx, timeouts and resets are `safe` for idempotent methods and `ambiguous` for others; a
 * refused certificate and every other answer are not retried.
 */
export function retryClass(method: string, reply: Reply | undefined, network: NetworkFailure | undefined): RetryClass | undefined {
  if (network) return network.kind === "not_sent" ? "safe" : network.kind === "tls" ? undefined : IDEMPOTENT.has(method) ? "safe" : "ambiguous";
  if (!reply) return undefined;
  if (reply.status === 429) return "rate";
  if (reply.status === 408 || reply.status >= 500) return IDEMPOTENT.has(method) ? "safe" : "ambiguous";
  return undefined;
}
