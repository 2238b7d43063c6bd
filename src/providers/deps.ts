import type { Dispatcher } from "undici";
import type { Config } from "../lib/config.js";
import { HttpClient, type ErrorParser } from "../lib/http.js";
import type { RateBudget } from "../lib/rate-budget.js";
import { normalizeEndpoint, type ApiBinding } from "./binding.js";
import type { ProviderInfo } from "./catalog.js";

/** What the registry hands each provider factory. */
export interface ProviderDeps {
  info: ProviderInfo;
  config: Config;
  env: NodeJS.ProcessEnv;
  debug?: ((message: string) => void) | undefined;
  signal?: AbortSignal | undefined;
  /** Multiplies rate-budget refill rates (AUTOMNA_RATE_SCALE). */
  rateScale: number;
  /** Injected dispatcher for unit tests (undici MockAgent). */
  dispatcher?: Dispatcher | undefined;
  /** First poll interval for async actions in ms (default 100, growing to 2 s). */
  pollMs?: number | undefined;
  /** Backoff base for retries in ms. */
  backoffMs?: number | undefined;
}

export function makeHttp(deps: ProviderDeps, parseError: ErrorParser, budget: RateBudget): HttpClient {
  const { info, config } = deps;
  return new HttpClient({
    provider: info.id,
    title: info.title,
    baseUrl: config.getString(info.urlKey)!,
    token: config.secret(info.tokenKey),
    tokenEnv: info.tokenEnv,
    urlKey: info.urlKey,
    parseError,
    budget,
    debug: deps.debug,
    signal: deps.signal,
    dispatcher: deps.dispatcher,
    backoffMs: deps.backoffMs,
    userAgent: "automna",
  });
}

/** The endpoint (and profile) a provider built from these deps acts through; the account is the provider's to add. */
export function apiBinding(deps: ProviderDeps, account?: string): ApiBinding {
  return { endpoint: normalizeEndpoint(deps.config.getString(deps.info.urlKey) ?? ""), ...(account === undefined ? {} : { account }), profile: deps.config.profile };
}

/** Poll intervals: start fast (sandboxes and quick actions), back off to 2 s. */
export function* pollIntervals(firstMs = 100): Generator<number> {
  let ms = firstMs;
  for (;;) {
    yield ms;
    ms = Math.min(2000, Math.round(ms * 1.5));
  }
}

/** Parses a decimal string or number price. */
export function price(value: string | number | undefined | null): number {
  const n = typeof value === "number" ? value : Number(value ?? NaN);
  return Number.isFinite(n) ? n : 0;
}
