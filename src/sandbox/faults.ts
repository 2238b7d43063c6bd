import { MANIFESTS } from "../providers/manifests.js";
import type { SandboxProvider } from "./util.js";
import { isPlainObject } from "./util.js";

/**
 * What a fault does to a matching request:
 * - `error`: answer `status` (default 500) with the provider's own error body, without doing
 *   the work; with `commit: true` the work is done first (the resource IS created).
 * - `commit_then_error`: shorthand for `error` + `commit: true`, default status 504; the
 *   classic "timed out, but it happened" that idempotent creates must survive.
 * - `latency`: wait `latencyMs` before handling (adds up with other matching rules).
 * - `rate_limit`: a 429 storm in the provider's own format and headers.
 * - `reset`: destroy the connection without an answer; with `commit: true` after doing the work.
 * - `outage`: the whole provider is down: every request to its API answers `status` (default 503)
 *   in its own error format, or has its connection reset with `reset: true`, and every host of
 *   the provider is unreachable (SSH and health connections dropped); the hosts and agents keep
 *   running, so they are all there when the outage ends. Needs `provider`; `path`, `method`,
 *   `count` and `probability` do not apply.
 */
export type FaultKind = "error" | "commit_then_error" | "latency" | "rate_limit" | "reset" | "outage";

export interface FaultRule {
  kind: FaultKind;
  /** Provider API the rule applies to; every provider when omitted. */
  provider?: SandboxProvider;
  /** HTTP method (GET, POST...); every method when omitted. */
  method?: string;
  /**
   * Request path (no query) pattern: segments match literally, a `*` segment matches any one
   * segment, a final `**` segment matches the rest. E.g. "/v1/servers", "/v1/servers/{star}",
   * "/v1/apps/{star}/machines" with {star} written as `*`. Every path when omitted.
   */
  path?: string;
  /** HTTP status for `error` / `commit_then_error` (408, 500, 502, 503, 504...). */
  status?: number;
  /** The error message in the provider's body (`error`, `commit_then_error`); a generic one when omitted. */
  message?: string;
  /**
   * The request field the error is about, for a 4xx such as a 422 naming `server_type`: Hetzner
   * lists it in `details.fields`; DigitalOcean and Fly only have a message, which should name it.
   */
  field?: string;
  /** Milliseconds of added latency (`latency`). */
  latencyMs?: number;
  /** Run the handler before failing (`error`, `reset`). */
  commit?: boolean;
  /** Chance per matching request, 0..1; default 1 (always). */
  probability?: number;
  /** Fire at most this many times, then the rule is spent. */
  count?: number;
  /** Active for this many milliseconds after it was set; forever when omitted. */
  durationMs?: number;
  /** `outage`: reset connections instead of answering `status`. */
  reset?: boolean;
}

/** The faults in force; `setFaults` replaces all of them. */
export interface FaultSpec {
  rules?: FaultRule[];
}

const KINDS: readonly FaultKind[] = ["error", "commit_then_error", "latency", "rate_limit", "reset", "outage"];
const PROVIDERS: readonly SandboxProvider[] = MANIFESTS.map((m) => m.id);

/** Checks a fault spec (from a file or the admin endpoint); returns the problem, if any. */
export function validateFaultSpec(value: unknown): string | null {
  if (!isPlainObject(value)) return "faults must be a JSON object {\"rules\": [...]}";
  const rules = value.rules ?? [];
  if (!Array.isArray(rules)) return "faults.rules must be an array";
  for (const [i, rule] of rules.entries()) {
    const at = `faults.rules[${i}]`;
    if (!isPlainObject(rule)) return `${at} must be an object`;
    if (!KINDS.includes(rule.kind as FaultKind)) return `${at}.kind must be one of ${KINDS.join(", ")}`;
    if (rule.provider !== undefined && !PROVIDERS.includes(rule.provider as SandboxProvider)) return `${at}.provider must be one of ${PROVIDERS.join(", ")}`;
    for (const key of ["status", "latencyMs", "probability", "count", "durationMs"] as const) {
      const v = rule[key];
      if (v !== undefined && (typeof v !== "number" || !Number.isFinite(v) || v < 0)) return `${at}.${key} must be a non-negative number`;
    }
    if (typeof rule.probability === "number" && rule.probability > 1) return `${at}.probability must be between 0 and 1`;
    if (rule.status !== undefined && ((rule.status as number) < 100 || (rule.status as number) > 599)) return `${at}.status must be an HTTP status`;
    if (rule.method !== undefined && typeof rule.method !== "string") return `${at}.method must be a string`;
    for (const key of ["message", "field"] as const) if (rule[key] !== undefined && typeof rule[key] !== "string") return `${at}.${key} must be a string`;
    if (rule.path !== undefined && (typeof rule.path !== "string" || !rule.path.startsWith("/"))) return `${at}.path must start with /`;
    if (rule.kind === "outage" && rule.provider === undefined) return `${at}: an outage needs a provider (one of ${PROVIDERS.join(", ")})`;
    if (rule.reset !== undefined && typeof rule.reset !== "boolean") return `${at}.reset must be true or false`;
  }
  return null;
}

interface ActiveRule {
  rule: FaultRule;
  segments: string[] | null;
  until: number;
  left: number;
}

/** What the request pipeline must do for one request. */
export interface FaultDecision {
  latencyMs: number;
  /** The first matching non-latency rule, if any. */
  action: { kind: "error" | "rate_limit" | "reset"; status: number; commit: boolean; message?: string; field?: string; outage?: boolean } | null;
}

/** The fault rules in force, matched per request. */
export class Faults {
  #rules: ActiveRule[] = [];

  set(spec: FaultSpec, now = Date.now()): void {
    this.#rules = (spec.rules ?? []).map((rule) => active(rule, now));
  }

  /** Adds one rule to those in force (the others keep their own deadlines). */
  add(rule: FaultRule, now = Date.now()): void {
    this.#rules.push(active(rule, now));
  }

  /** Ends the outage rules of `provider`; returns how many were in force. */
  endOutage(provider: SandboxProvider, now = Date.now()): number {
    const before = this.outages(now).filter((r) => r.provider === provider).length;
    this.#rules = this.#rules.filter((r) => !(r.rule.kind === "outage" && r.rule.provider === provider));
    return before;
  }

  /** The outage rules in force. */
  outages(now = Date.now()): FaultRule[] {
    return this.list(now).filter((r) => r.kind === "outage");
  }

  /** Whether `provider`'s hosts are cut off right now (an outage in force). */
  hostsDown(provider: SandboxProvider, now = Date.now()): boolean {
    return this.#rules.some((r) => r.rule.kind === "outage" && r.rule.provider === provider && r.until > now);
  }

  /** The rules still in force (spent and expired ones are dropped). */
  list(now = Date.now()): FaultRule[] {
    this.#rules = this.#rules.filter((r) => r.left > 0 && r.until > now);
    return this.#rules.map((r) => r.rule);
  }

  decide(provider: SandboxProvider, method: string, path: string, now = Date.now()): FaultDecision {
    const decision: FaultDecision = { latencyMs: 0, action: null };
    if (this.#rules.length === 0) return decision;
    const parts = path.split("/").filter(Boolean);
    for (const active of this.#rules) {
      const { rule } = active;
      if (active.left <= 0 || active.until <= now) continue;
      if (rule.provider && rule.provider !== provider) continue;
      if (rule.kind === "outage") {
        if (decision.action) continue;
        decision.action = rule.reset === true ? { kind: "reset", status: 0, commit: false } : { kind: "error", status: rule.status ?? 503, commit: false, message: rule.message ?? `${provider} is unavailable (sandbox outage)`, outage: true };
        continue;
      }
      if (rule.method && rule.method.toUpperCase() !== method) continue;
      if (active.segments && !matchSegments(active.segments, parts)) continue;
      if (rule.kind !== "latency" && decision.action) continue;
      if (rule.probability !== undefined && Math.random() >= rule.probability) continue;
      active.left--;
      switch (rule.kind) {
        case "latency":
          decision.latencyMs += rule.latencyMs ?? 0;
          break;
        case "rate_limit":
          decision.action = { kind: "rate_limit", status: 429, commit: false };
          break;
        case "reset":
          decision.action = { kind: "reset", status: 0, commit: rule.commit === true };
          break;
        case "error":
          decision.action = { kind: "error", status: rule.status ?? 500, commit: rule.commit === true, ...detail(rule) };
          break;
        case "commit_then_error":
          decision.action = { kind: "error", status: rule.status ?? 504, commit: true, ...detail(rule) };
          break;
      }
    }
    return decision;
  }
}

function active(rule: FaultRule, now: number): ActiveRule {
  return {
    rule,
    segments: rule.path ? rule.path.split("/").filter(Boolean) : null,
    until: rule.durationMs === undefined ? Infinity : now + rule.durationMs,
    left: rule.kind === "outage" ? Infinity : rule.count ?? Infinity,
  };
}

function detail(rule: FaultRule): { message?: string; field?: string } {
  return { ...(rule.message !== undefined ? { message: rule.message } : {}), ...(rule.field !== undefined ? { field: rule.field } : {}) };
}

function matchSegments(pattern: string[], parts: string[]): boolean {
  for (let i = 0; i < pattern.length; i++) {
    const p = pattern[i]!;
    if (p === "**") return true;
    if (i >= parts.length) return false;
    if (p !== "*" && p !== parts[i]) return false;
  }
  return pattern.length === parts.length;
}
