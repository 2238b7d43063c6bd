import type { IncomingMessage, ServerResponse } from "node:http";
import { readAllWithin } from "../lib/read-all.js";
import { CfApiError } from "./cloudflare-records.js";
import type { CloudflareFaultOptions, CloudflareFaults } from "./cloudflare.js";

/**
 * What stands between a request and the Cloudflare stand-in's data: the per-token rate limit
 * (a fixed window; once over, every call is refused with 429 until the window ends, as Cloudflare
 * documents), and the injected faults (latency, 5xx before or after the change, forced 429s and a
 * seeded error rate).
 */
export class Traffic {
  readonly #limit: { limit: number; windowMs: number };
  readonly #now: () => number;
  readonly #windows = new Map<string, { start: number; count: number }>();
  #seed: number;
  #fail = { n: 0, status: 500, afterApply: false, methods: undefined as string[] | undefined };
  #limited = { n: 0, retryAfter: 1 };
  #errorRate = 0;
  #errorStatus = 503;
  #latencyMs = 0;

  constructor(limit: { limit: number; windowMs: number }, now: () => number, seed: number) {
    this.#limit = limit;
    this.#now = now;
    this.#seed = seed;
  }

  readonly controls: CloudflareFaults = {
    failNext: (n: number, o: CloudflareFaultOptions = {}) => {
      this.#fail = { n, status: o.status ?? 500, afterApply: o.afterApply ?? false, methods: o.methods };
    },
    rateLimitNext: (n: number, retryAfterSeconds = 1) => {
      this.#limited = { n, retryAfter: retryAfterSeconds };
    },
    setErrorRate: (rate: number, status = 503) => {
      this.#errorRate = rate;
      this.#errorStatus = status;
    },
    setLatency: (ms: number) => {
      this.#latencyMs = ms;
    },
    reset: () => {
      this.#fail.n = 0;
      this.#limited.n = 0;
      this.#errorRate = 0;
      this.#latencyMs = 0;
    },
  };

  async delay(): Promise<void> {
    if (this.#latencyMs > 0) await new Promise((resolve) => setTimeout(resolve, this.#latencyMs));
  }

  /** Counts the call against the token's window and sets the Ratelimit headers; throws 429 when over. */
  admit(token: string, res: ServerResponse): void {
    const t = this.#now();
    let w = this.#windows.get(token);
    if (!w || t - w.start >= this.#limit.windowMs) {
      w = { start: t, count: 0 };
      this.#windows.set(token, w);
    }
    w.count++;
    const reset = Math.max(1, Math.ceil((w.start + this.#limit.windowMs - t) / 1000));
    res.setHeader("ratelimit", `"default";r=${Math.max(0, this.#limit.limit - w.count)};t=${reset}`);
    res.setHeader("ratelimit-policy", `"default";q=${this.#limit.limit};w=${Math.ceil(this.#limit.windowMs / 1000)}`);
    let retryAfter: number | undefined;
    if (this.#limited.n > 0) {
      this.#limited.n--;
      retryAfter = this.#limited.retryAfter;
    } else if (w.count > this.#limit.limit) {
      retryAfter = reset;
    }
    if (retryAfter !== undefined) {
      res.setHeader("retry-after", String(retryAfter));
      throw new CfApiError(429, 971, "Please wait and consider throttling your request speed");
    }
  }

  /** The fault to inject into this request, if any. */
  fault(method: string): { status: number; afterApply: boolean } | undefined {
    const f = this.#fail;
    if (f.n > 0 && (!f.methods || f.methods.includes(method))) {
      f.n--;
      return { status: f.status, afterApply: f.afterApply };
    }
    if (this.#errorRate > 0 && this.#random() < this.#errorRate) return { status: this.#errorStatus, afterApply: false };
    return undefined;
  }

  /** mulberry32: small and seedable, so a faulty run can be replayed. */
  #random(): number {
    this.#seed = (this.#seed + 0x6d2b79f5) | 0;
    let t = Math.imul(this.#seed ^ (this.#seed >>> 15), 1 | this.#seed);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  }
}

export function serverError(status: number): CfApiError {
  return new CfApiError(status, 10001, status === 503 ? "Service temporarily unavailable (injected)" : "Internal server error (injected)");
}

export function send(res: ServerResponse, status: number, body: unknown): void {
  const text = JSON.stringify(body);
  res.writeHead(status, { "content-type": "application/json", "content-length": Buffer.byteLength(text) }).end(text);
}

export async function readBody(req: IncomingMessage): Promise<unknown> {
  const raw = await readAllWithin(req, 1024 * 1024);
  if (raw === null) throw new CfApiError(413, 10413, "Request body too large");
  if (raw.length === 0) return undefined;
  try {
    return JSON.parse(raw.toString("utf8")) as unknown;
  } catch {
    throw new CfApiError(400, 9207, "Request body is invalid.", [{ code: 6007, message: "Malformed JSON in request body" }]);
  }
}
