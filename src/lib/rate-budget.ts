/**
 * Client-side request budgets: a provider's documented rate limit modelled as token buckets, so
 * bulk work is paced to what the provider allows instead of being sent, refused with 429 and
 * retried. Each request takes one token from every bucket that applies to it (DigitalOcean: the
 * hourly and the per-minute bucket; Fly: the bucket of its action on its app or machine).
 *
 * `scale` multiplies every refill rate, so a bench or test against a time-scaled sandbox (whose
 * limits refill faster) can match it: AUTOMNA_RATE_SCALE=100 makes Hetzner's 1/s refill 100/s.
 */

/** A limit: `capacity` requests at once, refilling at `perSecond`. */
export interface BucketSpec {
  capacity: number;
  perSecond: number;
  /**
   * A sliding window instead of a bucket: at most `capacity` requests in any `capacity /
   * perSecond` seconds, each counting until its own window ends (DigitalOcean). A bucket that
   * refills continuously would send more than such a window allows right after a burst.
   */
  sliding?: boolean;
  /**
   * Whether the server's RateLimit-Remaining applies to this limit. When a provider has several
   * limits but reports one number (DigitalOcean: 0 may mean the minute's burst is spent), it is
   * applied to the tightest only. Default: true.
   */
  syncs?: boolean;
}

/** What a request must get past: a token bucket or a sliding window. */
export interface Limiter {
  delayMs(): number;
  take(): void;
  /** The server says `remaining` requests are left; `resetAtMs` is when the oldest counted one expires. */
  sync(remaining: number, resetAtMs?: number): void;
  drain(): void;
  /** The answer to a request taken earlier arrived (or it failed): the server has counted it by now. */
  settle(): void;
}

export class TokenBucket implements Limiter {
  readonly capacity: number;
  readonly perSecond: number;
  #tokens: number;
  #last: number;
  readonly #now: () => number;

  constructor(spec: BucketSpec, now: () => number = () => performance.now()) {
    this.capacity = spec.capacity;
    this.perSecond = spec.perSecond;
    this.#tokens = spec.capacity;
    this.#now = now;
    this.#last = now();
  }

  #refill(): void {
    const t = this.#now();
    this.#tokens = Math.min(this.capacity, this.#tokens + ((t - this.#last) / 1000) * this.perSecond);
    this.#last = t;
  }

  /** Tokens available now (fractional). */
  get tokens(): number {
    this.#refill();
    return this.#tokens;
  }

  /** Milliseconds until one token is available (0 when one is). */
  delayMs(): number {
    this.#refill();
    return this.#tokens >= 1 ? 0 : Math.ceil(((1 - this.#tokens) / this.perSecond) * 1000);
  }

  take(): void {
    this.#refill();
    this.#tokens -= 1;
  }

  settle(): void {
    // A bucket refills continuously: the server, counting the request later, has refilled more.
  }

  /**
   * The server said how many requests are left (RateLimit-Remaining): never believe we have more
   * than that, because other processes and tokens share the same budget.
   */
  sync(remaining: number): void {
    this.#refill();
    if (remaining < this.#tokens) this.#tokens = Math.max(0, remaining);
  }

  /** The server refused (429): nothing is left until it refills. */
  drain(): void {
    this.#refill();
    this.#tokens = Math.min(this.#tokens, 0);
  }
}

/**
 * A sliding-window log: every request counts for `windowMs` after it was sent, at most
 * `capacity` in any window. Requests other clients made on the same token (learnt from
 * RateLimit-Remaining) are counted as if sent now, expiring at the server's reset time when it
 * says one, else a window from now.
 */
export class SlidingWindow implements Limiter {
  readonly capacity: number;
  readonly windowMs: number;
  /** Times requests were counted, ascending. */
  readonly #times: number[] = [];
  /** Send times of requests whose answer has not come yet, oldest first. */
  readonly #unsettled: number[] = [];
  readonly #now: () => number;
  /** Offset from our clock to the epoch, so server reset times (epoch) map onto it. */
  readonly #epochOffset: number;

  constructor(spec: BucketSpec, now: () => number = () => performance.now()) {
    this.capacity = spec.capacity;
    this.windowMs = (spec.capacity / spec.perSecond) * 1000;
    this.#now = now;
    this.#epochOffset = Date.now() - now();
  }

  #expire(): number {
    const t = this.#now();
    let drop = 0;
    while (drop < this.#times.length && this.#times[drop]! + this.windowMs <= t) drop++;
    if (drop) this.#times.splice(0, drop);
    return t;
  }

  delayMs(): number {
    const t = this.#expire();
    return this.#times.length < this.capacity ? 0 : Math.ceil(this.#times[0]! + this.windowMs - t);
  }

  take(): void {
    const t = this.#expire();
    this.#times.push(t);
    this.#unsettled.push(t);
  }

  /**
   * The server counts a request when it arrives, a little after we sent it, so its window for
   * that request ends a little later than ours would: recount it from when its answer came.
   */
  settle(): void {
    const sent = this.#unsettled.shift();
    if (sent === undefined) return;
    const t = this.#now();
    const i = this.#times.indexOf(sent);
    if (i === -1) return;
    this.#times.splice(i, 1);
    this.#times.push(t);
  }

  sync(remaining: number, resetAtMs?: number): void {
    const t = this.#expire();
    const unknown = this.capacity - this.#times.length - Math.max(0, remaining);
    if (unknown <= 0) return;
    const expiresAt = resetAtMs === undefined ? t + this.windowMs : Math.min(t + this.windowMs, Math.max(t, resetAtMs - this.#epochOffset));
    const at = expiresAt - this.windowMs;
    let i = this.#times.length;
    while (i > 0 && this.#times[i - 1]! > at) i--;
    this.#times.splice(i, 0, ...Array.from({ length: unknown }, () => at));
  }

  /** After a 429 the HTTP layer waits for Retry-After, and the 429's headers were synced. */
  drain(): void {
    this.#expire();
  }
}

/** Which buckets a request draws from. */
export interface BudgetRule {
  /** Shared buckets every request of the provider takes from (e.g. per-project limits). */
  global: BucketSpec[];
  /** Buckets per key (e.g. Fly's per action per app/machine), created on first use. */
  keyed?: (key: string) => BucketSpec;
}

export class RateBudget {
  readonly #global: Limiter[];
  /** The global limits the server's RateLimit-Remaining applies to. */
  readonly #synced: Limiter[];
  readonly #keyed = new Map<string, Limiter>();
  readonly #rule: BudgetRule;
  readonly #scale: number;
  readonly #now: () => number;
  /** Waiters run one at a time so a burst of callers is served in order and never overdraws. */
  #queue: Promise<void> = Promise.resolve();

  constructor(rule: BudgetRule, scale = 1, now: () => number = () => performance.now()) {
    this.#rule = rule;
    this.#scale = scale > 0 ? scale : 1;
    this.#now = now;
    this.#global = rule.global.map((b) => limiter(this.#scaled(b), now));
    this.#synced = this.#global.filter((_, i) => rule.global[i]!.syncs !== false);
  }

  #scaled(spec: BucketSpec): BucketSpec {
    return { ...spec, perSecond: spec.perSecond * this.#scale };
  }

  #buckets(key: string | undefined): Limiter[] {
    if (key === undefined || !this.#rule.keyed) return this.#global;
    let bucket = this.#keyed.get(key);
    if (!bucket) {
      bucket = limiter(this.#scaled(this.#rule.keyed(key)), this.#now);
      this.#keyed.set(key, bucket);
    }
    return [...this.#global, bucket];
  }

  /** Waits until every bucket for this request has a token, then takes them. */
  acquire(key?: string, signal?: AbortSignal): Promise<void> {
    const run = async (): Promise<void> => {
      const buckets = this.#buckets(key);
      for (;;) {
        signal?.throwIfAborted();
        const wait = Math.max(0, ...buckets.map((b) => b.delayMs()));
        if (wait === 0) break;
        await sleep(wait, signal);
      }
      for (const b of buckets) b.take();
    };
    const next = this.#queue.then(run, run);
    // The queue continues whether this waiter succeeded or was aborted.
    this.#queue = next.catch(() => undefined);
    return next;
  }

  /** Applies a server's RateLimit-Remaining (and RateLimit-Reset, epoch ms) to the shared limits. */
  sync(remaining: number, resetAtMs?: number): void {
    for (const b of this.#synced) b.sync(remaining, resetAtMs);
  }

  /** The answer to a request this budget paced has arrived (or the request failed). */
  settle(key?: string): void {
    for (const b of this.#buckets(key)) b.settle();
  }

  /** After a 429: empty the buckets this request used. */
  drain(key?: string): void {
    for (const b of this.#buckets(key)) b.drain();
  }
}

function limiter(spec: BucketSpec, now: () => number): Limiter {
  return spec.sliding ? new SlidingWindow(spec, now) : new TokenBucket(spec, now);
}

/** setTimeout as a promise that rejects when the signal aborts. */
export function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal?.aborted) return reject(signal.reason as Error);
    const timer = setTimeout(() => {
      signal?.removeEventListener("abort", onAbort);
      resolve();
    }, ms);
    const onAbort = (): void => {
      clearTimeout(timer);
      reject(signal!.reason as Error);
    };
    signal?.addEventListener("abort", onAbort, { once: true });
  });
}

/** AUTOMNA_RATE_SCALE: a positive number, default 1. */
export function rateScaleFromEnv(env: NodeJS.ProcessEnv): number {
  const n = Number(env.AUTOMNA_RATE_SCALE ?? "1");
  return Number.isFinite(n) && n > 0 ? n : 1;
}
