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
}

export class TokenBucket {
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

/** Which buckets a request draws from. */
export interface BudgetRule {
  /** Shared buckets every request of the provider takes from (e.g. per-project limits). */
  global: BucketSpec[];
  /** Buckets per key (e.g. Fly's per action per app/machine), created on first use. */
  keyed?: (key: string) => BucketSpec;
}

export class RateBudget {
  readonly #global: TokenBucket[];
  readonly #keyed = new Map<string, TokenBucket>();
  readonly #rule: BudgetRule;
  readonly #scale: number;
  readonly #now: () => number;
  /** Waiters run one at a time so a burst of callers is served in order and never overdraws. */
  #queue: Promise<void> = Promise.resolve();

  constructor(rule: BudgetRule, scale = 1, now: () => number = () => performance.now()) {
    this.#rule = rule;
    this.#scale = scale > 0 ? scale : 1;
    this.#now = now;
    this.#global = rule.global.map((b) => new TokenBucket(this.#scaled(b), now));
  }

  #scaled(spec: BucketSpec): BucketSpec {
    return { capacity: spec.capacity, perSecond: spec.perSecond * this.#scale };
  }

  #buckets(key: string | undefined): TokenBucket[] {
    if (key === undefined || !this.#rule.keyed) return this.#global;
    let bucket = this.#keyed.get(key);
    if (!bucket) {
      bucket = new TokenBucket(this.#scaled(this.#rule.keyed(key)), this.#now);
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

  /** Applies a server's RateLimit-Remaining to the shared buckets. */
  sync(remaining: number): void {
    for (const b of this.#global) b.sync(remaining);
  }

  /** After a 429: empty the buckets this request used. */
  drain(key?: string): void {
    for (const b of this.#buckets(key)) b.drain();
  }
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
