import type { Query } from "./http.js";

/** Small pure helpers of the HTTP layer (src/lib/http.ts). */

export function networkCode(error: unknown): string | undefined {
  let e: unknown = error;
  for (let i = 0; i < 4 && e; i++) {
    const code = (e as { code?: unknown }).code;
    if (typeof code === "string") return code;
    e = (e as { cause?: unknown }).cause;
  }
  return undefined;
}

export function headerMap(raw: Record<string, string | string[] | undefined>): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(raw)) if (v !== undefined) out[k.toLowerCase()] = Array.isArray(v) ? v.join(", ") : v;
  return out;
}

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

/** How long a 429 asks us to wait: Retry-After (seconds or date), else RateLimit-Reset (epoch seconds). */
export function retryAfterMs(headers: Record<string, string>, nowMs: number): number | undefined {
  const after = headers["retry-after"];
  if (after !== undefined) {
    const secs = Number(after);
    if (Number.isFinite(secs)) return Math.max(0, secs * 1000);
    const at = Date.parse(after);
    if (!Number.isNaN(at)) return Math.max(0, at - nowMs);
  }
  const reset = Number(headers["ratelimit-reset"]);
  if (headers["ratelimit-reset"] !== undefined && Number.isFinite(reset)) {
    // Some servers send seconds-until-reset rather than an epoch; both read sensibly here.
    return reset > 1e9 ? Math.max(0, reset * 1000 - nowMs) : reset * 1000;
  }
  return undefined;
}
