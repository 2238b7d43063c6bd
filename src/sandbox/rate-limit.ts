/**
 * The providers' documented request budgets. `scale` multiplies how fast a budget recovers
 * (refill rate, or how soon a counted request expires), so tests and benches can run a
 * realistic pattern in less wall time; capacities never change.
 */

/** A token bucket: `capacity` requests, refilled at `perSecond` (Hetzner, Fly). */
export class TokenBucket {
  readonly capacity: number;
  readonly perSecond: number;
  #tokens: number;
  #at: number;

  constructor(capacity: number, perSecond: number, now = Date.now()) {
    this.capacity = capacity;
    this.perSecond = perSecond;
    this.#tokens = capacity;
    this.#at = now;
  }

  #refill(now: number): void {
    const elapsed = Math.max(0, now - this.#at) / 1000;
    this.#tokens = Math.min(this.capacity, this.#tokens + elapsed * this.perSecond);
    this.#at = now;
  }

  /** Takes one token if there is one. */
  take(now = Date.now()): boolean {
    this.#refill(now);
    if (this.#tokens < 1) return false;
    this.#tokens -= 1;
    return true;
  }

  /** Whole requests left right now. */
  remaining(now = Date.now()): number {
    this.#refill(now);
    return Math.floor(this.#tokens);
  }

  /** Milliseconds until one more request is allowed (0 if one is allowed now). */
  waitMs(now = Date.now()): number {
    this.#refill(now);
    return this.#tokens >= 1 ? 0 : Math.ceil(((1 - this.#tokens) / this.perSecond) * 1000);
  }

  /** Milliseconds until the bucket is full again. */
  fullInMs(now = Date.now()): number {
    this.#refill(now);
    return Math.ceil(((this.capacity - this.#tokens) / this.perSecond) * 1000);
  }

  /** Empties the bucket (a 429 storm that should also show in the headers). */
  drain(now = Date.now()): void {
    this.#refill(now);
    this.#tokens = 0;
  }
}

/**
 * A sliding-window log (DigitalOcean): every request counts for `windowMs` after it was made,
 * at most `limit` in any window. Kept in a ring buffer, so memory is bounded by `limit`.
 */
export class SlidingWindow {
  readonly limit: number;
  readonly windowMs: number;
  readonly #ring: number[];
  #start = 0;
  #size = 0;

  constructor(limit: number, windowMs: number) {
    this.limit = limit;
    this.windowMs = windowMs;
    this.#ring = new Array<number>(limit).fill(0);
  }

  #expire(now: number): void {
    while (this.#size > 0 && this.#ring[this.#start]! + this.windowMs <= now) {
      this.#start = (this.#start + 1) % this.limit;
      this.#size--;
    }
  }

  /** Counts a request if the window has room. */
  take(now = Date.now()): boolean {
    this.#expire(now);
    if (this.#size >= this.limit) return false;
    this.#ring[(this.#start + this.#size) % this.limit] = now;
    this.#size++;
    return true;
  }

  remaining(now = Date.now()): number {
    this.#expire(now);
    return this.limit - this.#size;
  }

  /** When the oldest counted request expires (ms epoch); now when none is counted. */
  oldestExpiry(now = Date.now()): number {
    this.#expire(now);
    return this.#size === 0 ? now : this.#ring[this.#start]! + this.windowMs;
  }

  /** Fills the window (a 429 storm). */
  fill(now = Date.now()): void {
    while (this.take(now));
  }
}

/** Per-key token buckets (Fly: per action per machine or app), pruned when full. */
export class BucketMap {
  readonly #buckets = new Map<string, TokenBucket>();
  readonly #capacity: number;
  readonly #perSecond: number;

  constructor(capacity: number, perSecond: number) {
    this.#capacity = capacity;
    this.#perSecond = perSecond;
  }

  take(key: string, now = Date.now()): { ok: boolean; waitMs: number } {
    let bucket = this.#buckets.get(key);
    if (!bucket) {
      if (this.#buckets.size > 50_000) this.#prune(now);
      bucket = new TokenBucket(this.#capacity, this.#perSecond, now);
      this.#buckets.set(key, bucket);
    }
    const ok = bucket.take(now);
    return { ok, waitMs: ok ? 0 : bucket.waitMs(now) };
  }

  #prune(now: number): void {
    for (const [key, bucket] of this.#buckets) if (bucket.remaining(now) >= this.#capacity) this.#buckets.delete(key);
  }
}
