/** Small pure helpers of the HTTP transport (src/lib/http-transport.ts) and its clients. */

export type Query = Record<string, string | number | boolean | undefined | readonly (string | number)[]>;

export function networkCode(error: unknown): string | undefined {
  let e: unknown = error;
  for (let i = 0; i < 4 && e; i++) {
    const code = (e as { code?: unknown }).code;
    if (typeof code === "string") return code;
    e = (e as { cause?: unknown }).cause;
  }
  return undefined;
}

/** Error codes undici or Node raise before a single byte of the request went out. */
const NOT_SENT = new Set(["ECONNREFUSED", "ENOTFOUND", "EAI_AGAIN", "EHOSTUNREACH", "ENETUNREACH", "EADDRNOTAVAIL", "UND_ERR_CONNECT_TIMEOUT"]);
/** The server's certificate is not trusted: also never sent, and no retry can fix it. */
const TLS = /CERT|SELF_SIGNED|UNABLE_TO_VERIFY|ERR_TLS|ERR_SSL/;

/**
 * How an attempt that got no answer failed:
 * - `not_sent`: the request never left (refused, no such host): nothing was applied;
 * - `tls`: the server's certificate was refused: never sent, and retrying cannot help;
 * - `timeout`, `reset`: the request may have reached the server, and a write may have committed.
 */
export type NetworkKind = "not_sent" | "tls" | "timeout" | "reset";

export function networkKind(error: unknown, timedOut: boolean): NetworkKind {
  const code = networkCode(error);
  if (code !== undefined && NOT_SENT.has(code)) return "not_sent";
  if (code !== undefined && TLS.test(code)) return "tls";
  const name = (error as { name?: unknown } | undefined)?.name;
  if (timedOut || name === "TimeoutError" || code === "UND_ERR_HEADERS_TIMEOUT" || code === "UND_ERR_BODY_TIMEOUT") return "timeout";
  return "reset";
}

export function headerMap(raw: Record<string, string | string[] | undefined>): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(raw)) if (v !== undefined) out[k.toLowerCase()] = Array.isArray(v) ? v.join(", ") : v;
  return out;
}

/** `?a=1&b=x&b=y` from a query object (undefined values left out, arrays repeated), or "". */
export function buildQuery(query: Query | undefined): string {
  if (!query) return "";
  const params = new URLSearchParams();
  for (const [k, v] of Object.entries(query)) {
    if (v === undefined) continue;
    if (Array.isArray(v)) for (const item of v) params.append(k, String(item));
    else params.append(k, String(v));
  }
  const text = params.toString();
  return text ? `?${text}` : "";
}

/**
 * How long a refusal asks us to wait: Retry-After (seconds or an HTTP date), else RateLimit-Reset
 * or X-RateLimit-Reset (epoch seconds, or seconds from now), else the `t=` of an IETF `RateLimit` header
 * (`"default";r=0;t=42`, Cloudflare).
 */
export function retryAfterMs(headers: Record<string, string>, nowMs: number): number | undefined {
  const after = headers["retry-after"];
  if (after !== undefined) {
    const secs = Number(after);
    if (after.trim() !== "" && Number.isFinite(secs)) return Math.max(0, secs * 1000);
    const at = Date.parse(after);
    if (!Number.isNaN(at)) return Math.max(0, at - nowMs);
  }
  // Koyeb's answers were seen with the `x-` names (x-ratelimit-reset in seconds).
  const resetHeader = headers["ratelimit-reset"] ?? headers["x-ratelimit-reset"];
  const reset = Number(resetHeader);
  if (resetHeader !== undefined && Number.isFinite(reset)) {
    // Some servers send seconds-until-reset rather than an epoch; both read sensibly here.
    return reset > 1e9 ? Math.max(0, reset * 1000 - nowMs) : Math.max(0, reset * 1000);
  }
  const t = /;\s*t=(\d+)/.exec(headers.ratelimit ?? "");
  return t ? Number(t[1]) * 1000 : undefined;
}

/**
 * The wait before retry `n` (1 for the first): exponential from `baseMs`, capped at `maxMs`, with
 * "equal jitter": somewhere in the upper half of that, so many callers that failed together do
 * not come back together, and none comes back at once.
 */
export function backoffMs(n: number, baseMs: number, maxMs: number, random: () => number = Math.random): number {
  const cap = Math.min(maxMs, baseMs * 2 ** Math.max(0, n - 1));
  return Math.round(cap / 2 + random() * (cap / 2));
}

/** Request-id headers providers answer with, in the order they are looked for. */
const REQUEST_ID_HEADERS = ["x-request-id", "fly-request-id", "x-amzn-requestid", "x-amz-request-id", "cf-ray"];

export function requestIdOf(headers: Record<string, string>): string | undefined {
  return REQUEST_ID_HEADERS.map((h) => headers[h]).find((v) => v !== undefined);
}
