import { UsageError } from "../lib/errors.js";
import type { Instance } from "../state/types.js";

/**
 * Through which API an instance was made, and for which account where the provider names one
 * (DigitalOcean's account uuid, Fly's organization; Hetzner's tokens are per project and its API
 * does not name the project): recorded in the instance's `meta.api` when it is created, never
 * the token. A command acts on an instance only through the same endpoint and account
 * (ProviderRegistry.forInstance), so a sandbox's ids are never sent to a real API, nor one
 * account's to another's.
 */
export interface ApiBinding {
  /** The API base URL, normalised (scheme, lower-case host and port, path without a trailing slash). */
  endpoint: string;
  account?: string;
  /** The profile it was made with, to name in a refusal ("use --profile sandbox"). */
  profile?: string;
}

export function normalizeEndpoint(url: string): string {
  try {
    const u = new URL(url);
    return `${u.protocol}//${u.host}${u.pathname.replace(/\/+$/, "")}`;
  } catch {
    return url.trim().replace(/\/+$/, "");
  }
}

/** The binding recorded in an instance's meta, or undefined for one made before automna recorded them. */
export function recordedBinding(row: Pick<Instance, "meta">): ApiBinding | undefined {
  const api = row.meta.api;
  if (typeof api !== "object" || api === null) return undefined;
  const { endpoint, account, profile } = api as Record<string, unknown>;
  if (typeof endpoint !== "string" || endpoint === "") return undefined;
  return { endpoint, ...(typeof account === "string" ? { account } : {}), ...(typeof profile === "string" ? { profile } : {}) };
}

/** Whether a recorded binding is the one in force now (same endpoint; same account when both name one). */
export function sameApi(recorded: ApiBinding, current: ApiBinding): boolean {
  if (normalizeEndpoint(recorded.endpoint) !== normalizeEndpoint(current.endpoint)) return false;
  return recorded.account === undefined || current.account === undefined || recorded.account === current.account;
}

/**
 * The refusal (exit 2) for an instance recorded under another endpoint or account than the one
 * this profile reaches: both are named, and the way to reach the right one.
 */
export function wrongApi(row: Pick<Instance, "user" | "provider">, title: string, recorded: ApiBinding, current: ApiBinding): UsageError {
  const where = (b: ApiBinding): string => `${b.endpoint}${b.account ? ` (account ${b.account})` : ""}`;
  const sameEndpoint = normalizeEndpoint(recorded.endpoint) === normalizeEndpoint(current.endpoint);
  const what = sameEndpoint ? `${title} account ${recorded.account}` : where(recorded);
  const now = sameEndpoint ? `account ${current.account}` : where(current);
  const made = recorded.profile && recorded.profile !== current.profile ? `run it with the profile it was made with (automna --profile ${recorded.profile} ...)` : "run it with the profile (or token and URL) it was made with";
  return new UsageError(`${row.user}'s ${title} instance was made through ${what}; profile ${current.profile ?? "default"} reaches ${now}: refusing to act on it there`, {
    code: "wrong_endpoint",
    hint: `${made}; nothing was sent`,
  });
}
