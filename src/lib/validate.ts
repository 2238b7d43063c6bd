import { UsageError } from "./errors.js";

/** A user id is part of hostnames and Fly app names (`automna-<user>`): it cannot end in '-'. */
export const USER_ID_RE = /^[a-z0-9](?:[a-z0-9-]{0,39}[a-z0-9])?$/;
export const USER_RULE = "user ids are 1-41 characters of a-z, 0-9 and '-', starting and ending with a letter or digit";

export function isUserId(id: string): boolean {
  return USER_ID_RE.test(id);
}

export function validateUser(id: string): string {
  if (!isUserId(id)) throw new UsageError(`invalid user id "${id}": ${USER_RULE}`);
  return id;
}

/** Validates a list of user ids and rejects duplicates. */
export function validateUsers(ids: string[]): string[] {
  const seen = new Set<string>();
  for (const id of ids) {
    validateUser(id);
    if (seen.has(id)) throw new UsageError(`user "${id}" is given twice`);
    seen.add(id);
  }
  return ids;
}

export function parseInteger(flag: string, value: string, min: number, max = Number.MAX_SAFE_INTEGER): number {
  const n = Number(value);
  if (!/^-?\d+$/.test(value.trim()) || !Number.isSafeInteger(n) || n < min || n > max) {
    throw new UsageError(`${flag} must be a whole number from ${min}${max < Number.MAX_SAFE_INTEGER ? ` to ${max}` : " up"}, got "${value}"`);
  }
  return n;
}

export function parseNumber(flag: string, value: string, min = -Infinity): number {
  const n = Number(value);
  if (value.trim() === "" || !Number.isFinite(n) || n < min) {
    throw new UsageError(`${flag} must be a number${min > -Infinity ? ` of at least ${min}` : ""}, got "${value}"`);
  }
  return n;
}

const UNITS: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000, w: 604_800_000 };

/** Parses `90s`, `10m`, `2h`, `3d`, `1h30m` into milliseconds. */
export function parseDuration(flag: string, value: string): number {
  const parts = [...value.matchAll(/(\d+(?:\.\d+)?)(ms|s|m|h|d|w)/g)];
  if (parts.length === 0 || parts.map((p) => p[0]).join("") !== value) {
    throw new UsageError(`${flag} must be a duration like 90s, 10m, 2h or 3d, got "${value}"`);
  }
  return parts.reduce((sum, p) => sum + Number(p[1]) * UNITS[p[2]!]!, 0);
}

/** A point in time: a duration ago (`10m`) or an ISO-8601 time. */
export function parseSince(flag: string, value: string, now: Date): Date {
  if (/^\d+(\.\d+)?(ms|s|m|h|d|w)/.test(value)) return new Date(now.getTime() - parseDuration(flag, value));
  const t = Date.parse(value);
  if (!/^\d{4}-\d{2}-\d{2}/.test(value) || Number.isNaN(t)) {
    throw new UsageError(`${flag} must be a duration (10m, 2h) or an ISO time (2026-11-29T10:00:00Z), got "${value}"`);
  }
  return new Date(t);
}

/** Parses `K=V` pairs (for --env). */
export function parseKeyValue(flag: string, value: string): [string, string] {
  const i = value.indexOf("=");
  const key = i > 0 ? value.slice(0, i) : "";
  if (!/^[A-Za-z_][A-Za-z0-9_]*$/.test(key)) throw new UsageError(`${flag} takes NAME=value with NAME a shell variable name, got "${value}"`);
  return [key, value.slice(i + 1)];
}

const SIZE_UNITS: Record<string, number> = { "": 1, b: 1, k: 1024, kib: 1024, kb: 1000, m: 1024 ** 2, mib: 1024 ** 2, mb: 1000 ** 2, g: 1024 ** 3, gib: 1024 ** 3, gb: 1000 ** 3, t: 1024 ** 4, tib: 1024 ** 4, tb: 1000 ** 4 };

/** Parses a byte size: `1048576`, `64KiB`, `100MiB`, `5GiB` (K, M, G, T and KiB... are powers of 1024; kB, MB, GB of 1000). */
export function parseByteSize(what: string, value: string): number {
  const m = /^\s*(\d+(?:\.\d+)?)\s*([a-zA-Z]*)\s*$/.exec(value);
  const unit = m ? SIZE_UNITS[m[2]!.toLowerCase()] : undefined;
  const n = m && unit !== undefined ? Math.round(Number(m[1]) * unit) : NaN;
  if (!Number.isSafeInteger(n)) throw new UsageError(`${what} must be a size like 5242880, 64KiB, 100MiB or 5GiB, got "${value}"`);
  return n;
}
