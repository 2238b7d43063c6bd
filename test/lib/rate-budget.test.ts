import { describe, expect, it } from "vitest";
import { RateBudget, SlidingWindow, TokenBucket, rateScaleFromEnv } from "../../src/lib/rate-budget.js";

describe("TokenBucket", () => {
  it("spends its burst, then refills at its rate", () => {
    let t = 0;
    const b = new TokenBucket({ capacity: 3, perSecond: 1 }, () => t);
    b.take(); b.take(); b.take();
    expect(b.delayMs()).toBe(1000);
    t = 500;
    expect(b.delayMs()).toBe(500);
    t = 1000;
    expect(b.delayMs()).toBe(0);
    t = 100_000;
    expect(b.tokens).toBe(3);
  });

  it("believes the server's RateLimit-Remaining when it is lower, and drains on 429", () => {
    const b = new TokenBucket({ capacity: 3600, perSecond: 1 }, () => 0);
    b.sync(5);
    expect(b.tokens).toBe(5);
    b.sync(100);
    expect(b.tokens).toBe(5);
    b.drain();
    expect(b.delayMs()).toBe(1000);
  });
});

describe("SlidingWindow", () => {
  it("allows `capacity` requests per window, each counting until its own window ends", () => {
    let t = 0;
    // 3 per second (DigitalOcean-style: 250 per minute, here small).
    const w = new SlidingWindow({ capacity: 3, perSecond: 3, sliding: true }, () => t);
    w.take();
    t = 400;
    w.take(); w.take();
    // A bucket refilling 3/s would allow one more at 400 + 333 ms; the window waits for the first to expire.
    expect(w.delayMs()).toBe(600);
    t = 1000;
    expect(w.delayMs()).toBe(0);
    w.take();
    expect(w.delayMs()).toBe(400);
  });

  it("counts requests the server knows of but we did not send, until the server's reset", () => {
    let t = 0;
    const w = new SlidingWindow({ capacity: 10, perSecond: 10, sliding: true }, () => t);
    w.take();
    w.sync(20);
    expect(w.delayMs()).toBe(0);
    const epochNow = Date.now();
    w.sync(0, epochNow + 300);
    expect(w.delayMs()).toBeGreaterThan(250);
    expect(w.delayMs()).toBeLessThanOrEqual(1000);
    t = 1000;
    expect(w.delayMs()).toBe(0);
  });
});

describe("RateBudget", () => {
  it("paces callers to the refill rate after the burst, scaled by AUTOMNA_RATE_SCALE", async () => {
    const scale = rateScaleFromEnv({ AUTOMNA_RATE_SCALE: "100" });
    expect(scale).toBe(100);
    // 1/s with burst 2, scaled 100x: 2 immediately, then one every 10 ms.
    const budget = new RateBudget({ global: [{ capacity: 2, perSecond: 1 }] }, scale);
    const started = performance.now();
    for (let i = 0; i < 6; i++) await budget.acquire();
    expect(performance.now() - started).toBeGreaterThanOrEqual(35);
  });

  it("keeps a bucket per key (Fly: per action per app or machine)", async () => {
    const budget = new RateBudget({ global: [], keyed: () => ({ capacity: 1, perSecond: 0.001 }) });
    await budget.acquire("create_machine:a");
    await budget.acquire("create_machine:b");
    const controller = new AbortController();
    const pending = budget.acquire("create_machine:a", controller.signal);
    controller.abort();
    await expect(pending).rejects.toThrow();
  });

  it("treats a bad scale as 1", () => {
    expect(rateScaleFromEnv({ AUTOMNA_RATE_SCALE: "0" })).toBe(1);
    expect(rateScaleFromEnv({})).toBe(1);
  });
});
