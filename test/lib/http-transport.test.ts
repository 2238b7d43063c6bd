import { createServer as createHttpServer } from "node:http";
import { createServer, type Server, type Socket } from "node:net";
import { MockAgent } from "undici";
import { afterEach, describe, expect, it } from "vitest";
import { isAbortError } from "../../src/lib/errors.js";
import { NetworkFailure, Transport, retryClass, type CallHandler, type Reply, type RetryInfo, type TransportOptions } from "../../src/lib/http-transport.js";
import { backoffMs, networkKind, retryAfterMs } from "../../src/lib/http-util.js";
import { RateBudget } from "../../src/lib/rate-budget.js";
import { Secret } from "../../src/lib/redact.js";

const ORIGIN = "http://api.test";
const closers: (() => Promise<void>)[] = [];

afterEach(async () => {
  await Promise.all(closers.splice(0).map((close) => close()));
});

/** A transport over a MockAgent, its debug lines and retries recorded. */
function mocked(over: Partial<TransportOptions> = {}): { t: Transport; mock: MockAgent; logs: string[]; retries: RetryInfo[] } {
  const mock = new MockAgent();
  mock.disableNetConnect();
  const logs: string[] = [];
  const retries: RetryInfo[] = [];
  const t = new Transport({
    baseUrl: `${ORIGIN}/v1`, label: "test", dispatcher: mock, retry: { baseDelayMs: 1, maxDelayMs: 4 },
    debug: (line) => logs.push(line), onRetry: (info) => retries.push(info), ...over,
  });
  closers.push(() => mock.close());
  return { t, mock, logs, retries };
}

/** The body on a 2xx; a plain error naming the reason otherwise. */
const text: CallHandler<string> = {
  accept: (reply) => (reply.status < 300 ? { value: reply.text } : undefined),
  error: (failure) => new Error(`failed: ${failure.reason}`),
};

async function listen(server: Server): Promise<string> {
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  closers.push(() => new Promise((resolve) => server.close(() => resolve())));
  return `http://127.0.0.1:${(server.address() as { port: number }).port}`;
}

/** One attempt against a loopback server, to see how the transport names the failure. */
async function attempt(url: string, method: "GET" | "POST", timeoutMs = 30_000): Promise<Reply | NetworkFailure> {
  const t = new Transport({ baseUrl: url, label: "test", timeoutMs });
  closers.push(() => t.close());
  return t.once({ method, path: "/x", body: method === "POST" ? "{}" : undefined });
}

describe("classification of failures", () => {
  it("names a refused connection never-sent, and a reset or a silent server may-have-committed", async () => {
    const probe = createServer();
    const closed = await listen(probe);
    await new Promise<void>((resolve) => probe.close(() => resolve()));
    const refused = await attempt(closed, "POST");
    expect(refused).toBeInstanceOf(NetworkFailure);
    expect(refused).toMatchObject({ kind: "not_sent", code: "ECONNREFUSED" });
    expect(retryClass("POST", undefined, refused as NetworkFailure)).toBe("safe");

    // The request arrives, then the connection dies before any answer.
    const resetting = await listen(createServer((socket) => socket.once("data", () => socket.destroy())));
    const reset = await attempt(resetting, "POST");
    expect(reset).toMatchObject({ kind: "reset" });
    expect(retryClass("POST", undefined, reset as NetworkFailure)).toBe("ambiguous");
    expect(retryClass("GET", undefined, reset as NetworkFailure)).toBe("safe");

    const sockets: Socket[] = [];
    const silent = await listen(createServer((socket) => void sockets.push(socket)));
    closers.push(async () => sockets.forEach((s) => s.destroy()));
    const timedOut = await attempt(silent, "POST", 200);
    expect(timedOut).toMatchObject({ kind: "timeout", timeoutMs: 200 });
    expect(retryClass("POST", undefined, timedOut as NetworkFailure)).toBe("ambiguous");
  });

  it("never retries a refused certificate, and sorts answers by status and method", () => {
    const tls = Object.assign(new Error("self-signed certificate"), { code: "DEPTH_ZERO_SELF_SIGNED_CERT" });
    expect(networkKind(tls, false)).toBe("tls");
    expect(retryClass("GET", undefined, new NetworkFailure("tls", tls, 1000))).toBeUndefined();
    expect(networkKind(Object.assign(new Error("x"), { cause: { code: "ENOTFOUND" } }), false)).toBe("not_sent");
    const reply = (status: number): Reply => ({ status, headers: {}, text: "", ms: 1 });
    expect(retryClass("POST", reply(429), undefined)).toBe("rate");
    expect(retryClass("GET", reply(503), undefined)).toBe("safe");
    expect(retryClass("DELETE", reply(408), undefined)).toBe("safe");
    expect(retryClass("POST", reply(502), undefined)).toBe("ambiguous");
    expect(retryClass("PATCH", reply(500), undefined)).toBe("ambiguous");
    expect(retryClass("GET", reply(404), undefined)).toBeUndefined();
    expect(retryClass("GET", reply(401), undefined)).toBeUndefined();
  });
});

describe("backoff and server-requested waits", () => {
  it("keeps every jittered backoff between half and all of its capped exponential step", () => {
    for (let n = 1; n <= 12; n++) {
      const cap = Math.min(8000, 250 * 2 ** (n - 1));
      expect(backoffMs(n, 250, 8000, () => 0)).toBe(Math.round(cap / 2));
      expect(backoffMs(n, 250, 8000, () => 1)).toBe(cap);
      for (let k = 0; k < 50; k++) {
        const ms = backoffMs(n, 250, 8000);
        expect(ms).toBeGreaterThanOrEqual(Math.round(cap / 2));
        expect(ms).toBeLessThanOrEqual(cap);
      }
    }
  });

  // Retry-After seconds and dates, and an epoch RateLimit-Reset: test/lib/http.test.ts.
  it("reads a RateLimit-Reset delta and the RateLimit header's t=, Retry-After first", () => {
    const now = Date.parse("2026-11-29T12:00:00Z");
    expect(retryAfterMs({ "ratelimit-reset": "7" }, now)).toBe(7000);
    expect(retryAfterMs({ ratelimit: '"default";r=0;t=42' }, now)).toBe(42_000);
    expect(retryAfterMs({ "retry-after": "1", "ratelimit-reset": "9" }, now)).toBe(1000);
    expect(retryAfterMs({}, now)).toBeUndefined();
  });

  it("waits what a 429 asks (RateLimit-Reset), drains the budget, then retries even a POST", async () => {
    const delays: number[] = [];
    const budget = new RateBudget({ global: [{ capacity: 5, perSecond: 1000 }] });
    const { t, mock, logs } = mocked({ budget, sleep: async (ms) => void delays.push(ms) });
    const pool = mock.get(ORIGIN);
    pool.intercept({ path: "/v1/things", method: "POST" }).reply(429, "slow down", { headers: { "ratelimit-reset": "2", "ratelimit-remaining": "0" } });
    pool.intercept({ path: "/v1/things", method: "POST" }).reply(201, "made");
    expect(await t.call({ method: "POST", path: "/things", body: "{}" }, text)).toBe("made");
    expect(delays).toEqual([2000]);
    expect(logs.some((l) => l.includes("429, waiting 2000 ms"))).toBe(true);
  });

  it("gives up at once on a Retry-After beyond what the client accepts", async () => {
    const delays: number[] = [];
    const { t, mock } = mocked({ sleep: async (ms) => void delays.push(ms), retry: { failRateWaitAboveMs: 300_000 } });
    mock.get(ORIGIN).intercept({ path: "/v1/things", method: "GET" }).reply(429, "", { headers: { "retry-after": "301" } });
    await expect(t.call({ method: "GET", path: "/things" }, text)).rejects.toThrow("failed: 429 rate limited");
    expect(delays).toEqual([]);
  });

  it("retries a 503 no sooner than its Retry-After, capped by the policy", async () => {
    const delays: number[] = [];
    const { t, mock } = mocked({ sleep: async (ms) => void delays.push(ms), retry: { baseDelayMs: 1, maxDelayMs: 1500 } });
    const pool = mock.get(ORIGIN);
    pool.intercept({ path: "/v1/things", method: "GET" }).reply(503, "", { headers: { "retry-after": "1" } });
    pool.intercept({ path: "/v1/things", method: "GET" }).reply(503, "", { headers: { "retry-after": "120" } });
    pool.intercept({ path: "/v1/things", method: "GET" }).reply(200, "ok");
    expect(await t.call({ method: "GET", path: "/things" }, text)).toBe("ok");
    expect(delays).toEqual([1000, 1500]);
  });

  it("leaves an ambiguous write to the client: a lookup's find ends the call, a retry resends", async () => {
    const { t, mock } = mocked();
    const pool = mock.get(ORIGIN);
    pool.intercept({ path: "/v1/things", method: "POST" }).reply(502, "").times(2);
    pool.intercept({ path: "/v1/things", method: "POST" }).reply(201, "made");
    const verdicts: ("retry" | { value: string })[] = ["retry", { value: "found by marker" }];
    const asked: number[] = [];
    const found = await t.call({ method: "POST", path: "/things", body: "{}" }, { ...text, ambiguous: async (f) => (asked.push(f.attempt), verdicts.shift()!) });
    expect(found).toBe("found by marker");
    expect(asked).toEqual([1, 2]);
    // Without a handler an ambiguous write is never resent.
    await expect(t.call({ method: "POST", path: "/things", body: "{}" }, text)).resolves.toBe("made");
    pool.intercept({ path: "/v1/things", method: "POST" }).reply(504, "");
    await expect(t.call({ method: "POST", path: "/things", body: "{}" }, text)).rejects.toThrow("failed: 504");
    mock.assertNoPendingInterceptors();
  });

  it("stops retrying faults once retryForMs has passed", async () => {
    const { t, mock } = mocked({ retry: { attempts: Infinity, retryForMs: 50, baseDelayMs: 5, maxDelayMs: 10 } });
    mock.get(ORIGIN).intercept({ path: "/v1/things", method: "GET" }).reply(503, "").persist();
    const error = await t.call({ method: "GET", path: "/things" }, { ...text, error: (f) => Object.assign(new Error("gave up"), { elapsedMs: f.elapsedMs }) }).catch((e: unknown) => e);
    expect((error as { elapsedMs: number }).elapsedMs).toBeGreaterThanOrEqual(50);
  });
});

describe("Ctrl-C", () => {
  it("cuts a backoff short: the call rejects as cancelled", async () => {
    const ac = new AbortController();
    const waits: number[] = [];
    const { t, mock } = mocked({ signal: ac.signal, retry: { baseDelayMs: 300_000, maxDelayMs: 300_000 }, onRetry: (info) => (waits.push(info.delayMs), ac.abort()) });
    mock.get(ORIGIN).intercept({ path: "/v1/things", method: "GET" }).reply(503, "").persist();
    const error = await t.call({ method: "GET", path: "/things" }, text).catch((e: unknown) => e);
    expect(isAbortError(error)).toBe(true);
    expect(waits).toHaveLength(1);
    expect(waits[0]).toBeGreaterThanOrEqual(150_000);
  });

  it("cuts a 300 s Retry-After short, and a call after the abort sends nothing", async () => {
    const ac = new AbortController();
    const seen: number[] = [];
    const { t, mock } = mocked({ signal: ac.signal, retry: { maxRateWaitMs: 300_000 }, onRetry: (info) => (seen.push(info.delayMs), ac.abort()) });
    mock.get(ORIGIN).intercept({ path: "/v1/things", method: "POST" }).reply(429, "", { headers: { "retry-after": "300" } });
    const error = await t.call({ method: "POST", path: "/things", body: "{}" }, text).catch((e: unknown) => e);
    expect(seen).toEqual([300_000]);
    expect(isAbortError(error)).toBe(true);
    expect(isAbortError(await t.call({ method: "GET", path: "/things" }, text).catch((e: unknown) => e))).toBe(true);
  });

  it("aborts a request in flight", async () => {
    const ac = new AbortController();
    const silent = await listen(createHttpServer(() => ac.abort()));
    const t = new Transport({ baseUrl: silent, label: "test", signal: ac.signal });
    closers.unshift(() => t.close());
    expect(isAbortError(await t.call({ method: "GET", path: "/" }, text).catch((e: unknown) => e))).toBe(true);
  });

  it("cuts a rate-budget wait short", async () => {
    const ac = new AbortController();
    const budget = new RateBudget({ global: [{ capacity: 1, perSecond: 0.001 }] });
    const { t, mock } = mocked({ signal: ac.signal, budget });
    mock.get(ORIGIN).intercept({ path: "/v1/things", method: "GET" }).reply(200, "ok").persist();
    expect(await t.call({ method: "GET", path: "/things" }, text)).toBe("ok");
    // The bucket refills in ~1000 s; Ctrl-C must not wait for it.
    const second = t.call({ method: "GET", path: "/things" }, text).catch((e: unknown) => e);
    setImmediate(() => ac.abort());
    expect(isAbortError(await second)).toBe(true);
  });

  it("with signalScope 'waits', still sends (once) after the abort, so a cancel can be recorded", async () => {
    const ac = new AbortController();
    ac.abort();
    const { t, mock } = mocked({ signal: ac.signal, signalScope: "waits" });
    const pool = mock.get(ORIGIN);
    pool.intercept({ path: "/v1/record", method: "POST" }).reply(201, "recorded");
    expect(await t.call({ method: "POST", path: "/record", body: "{}" }, text)).toBe("recorded");
    pool.intercept({ path: "/v1/record", method: "GET" }).reply(503, "");
    expect(isAbortError(await t.call({ method: "GET", path: "/record" }, text).catch((e: unknown) => e))).toBe(true);
    mock.assertNoPendingInterceptors();
  });
});

describe("debug lines", () => {
  it("show requests and answers with secrets redacted, and sensitive bodies not at all", async () => {
    const secret = new Secret("sk-live-0123456789abcdef");
    const { t, mock, logs } = mocked();
    const pool = mock.get(ORIGIN);
    pool.intercept({ path: "/v1/echo", method: "POST" }).reply(400, `bad token ${secret.reveal()}`).times(2);
    const headers = { authorization: `Bearer ${secret.reveal()}` };
    await t.call({ method: "POST", path: "/echo", headers, body: JSON.stringify({ token: secret.reveal() }) }, text).catch(() => undefined);
    await t.call({ method: "POST", path: "/echo", headers, body: "{}", sensitive: true }, text).catch(() => undefined);
    expect(logs[0]).toBe('→ POST http://api.test/v1/echo {"token":"***"}');
    expect(logs[1]).toMatch(/^← 400 POST \/v1\/echo \d+ ms bad token \*\*\*$/);
    expect(logs[2]).toBe("→ POST http://api.test/v1/echo <body with secrets not shown>");
    expect(logs.join("\n")).not.toContain(secret.reveal());
  });
});

describe("a streamed body (streamBody)", () => {
  it("hands a 2xx body on chunk by chunk while it arrives; an error body is read whole", async () => {
    let more: (() => void) | undefined;
    const server = createHttpServer((req, res) => {
      if (req.url?.endsWith("/fail")) {
        res.writeHead(502, { "content-type": "application/json" });
        res.end('{"error":"nope"}');
        return;
      }
      res.writeHead(200, { "content-type": "text/event-stream" });
      res.write("first;");
      // The rest only once the client has seen the first chunk: buffering would never get there.
      more = () => res.end("second;");
    });
    const url = await listen(server);
    const t = new Transport({ baseUrl: url, label: "test", retry: { attempts: 1 } });
    closers.push(() => t.close());
    const seen: string[] = [];
    const reply = await t.once({
      method: "POST", path: "/stream", body: "{}",
      streamBody: () => (chunk) => {
        seen.push(chunk.toString());
        if (seen.join("") === "first;") more?.();
      },
    });
    expect(seen.join("")).toBe("first;second;");
    expect(reply).toMatchObject({ status: 200, text: "" });
    const failed = await t.once({ method: "POST", path: "/fail", body: "{}", streamBody: () => (chunk) => seen.push(chunk.toString()) });
    expect(failed).toMatchObject({ status: 502, text: '{"error":"nope"}' });
    expect(seen.join("")).toBe("first;second;");
  });

  it("a GET whose stream breaks is retried into a fresh sink: the broken attempt's chunks are not mixed in", async () => {
    let served = 0;
    const server = createHttpServer((_req, res) => {
      res.writeHead(200, { "content-type": "application/octet-stream", "content-length": "12" });
      // The first answer breaks after half its body; the second is whole.
      if (served++ === 0) {
        res.write("broken");
        res.flushHeaders();
        setImmediate(() => res.socket?.destroy());
      } else res.end("whole answer");
    });
    const url = await listen(server);
    const t = new Transport({ baseUrl: url, label: "test", retry: { attempts: 2, baseDelayMs: 1, maxDelayMs: 1 } });
    closers.push(() => t.close());
    const sinks: string[][] = [];
    const reply = await t.call({
      method: "GET", path: "/object",
      streamBody: () => {
        const sink: string[] = [];
        sinks.push(sink);
        return (chunk) => sink.push(chunk.toString());
      },
    }, { accept: (r) => (r.status === 200 ? { value: r } : undefined), error: (f) => new Error(f.reason) });
    expect(reply.status).toBe(200);
    expect(served).toBe(2);
    expect(sinks.map((s) => s.join(""))).toEqual(["broken", "whole answer"]);
  });
});
