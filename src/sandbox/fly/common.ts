import type { Reply } from "../http.js";
import { isPlainObject } from "../util.js";

/** Fly's error body: `{error, status?}` (`status` only for the documented codes). */
export function flyError(status: number, error: string, code?: "unknown" | "insufficient_capacity" | "volume_placement_capacity" | "name_taken"): Reply {
  return { status, body: code ? { error, status: code } : { error } };
}

export function badRequest(message: string): Reply {
  return flyError(400, message);
}

export function isReply(value: unknown): value is Reply {
  return typeof value === "object" && value !== null && "status" in value && typeof (value as Reply).status === "number";
}

/** Fly regions (three-letter codes). */
export const REGIONS = new Set([
  "ams", "arn", "atl", "bog", "bom", "bos", "cdg", "den", "dfw", "ewr", "eze", "fra", "gdl", "gig", "gru", "hkg", "iad", "jnb",
  "lax", "lhr", "mad", "mia", "nrt", "ord", "otp", "phx", "qro", "scl", "sea", "sin", "sjc", "syd", "waw", "yul", "yyz",
]);

export const DEFAULT_REGION = "ams";

/** Organizations the sandbox token belongs to. */
export const ORGS: Record<string, { name: string; id: number }> = { personal: { name: "Sandbox Personal", id: 100001 } };

/**
 * Checks a guest: shared CPUs take 256 MB to 2 GB per CPU, performance CPUs 2 to 8 GB per CPU,
 * in 256 MB steps; 1, 2, 4, 8 or 16 CPUs. Returns the problem or null.
 */
export function guestProblem(guest: Record<string, unknown>): string | null {
  const kind = guest.cpu_kind;
  const cpus = guest.cpus;
  const memory = guest.memory_mb;
  if (kind !== "shared" && kind !== "performance") return `invalid guest.cpu_kind "${String(kind)}": must be shared or performance`;
  if (typeof cpus !== "number" || ![1, 2, 4, 8, 16].includes(cpus)) return `invalid guest.cpus ${String(cpus)}: must be 1, 2, 4, 8 or 16`;
  if (typeof memory !== "number" || !Number.isInteger(memory) || memory % 256 !== 0) return `invalid guest.memory_mb ${String(memory)}: must be a multiple of 256`;
  const [min, max] = kind === "shared" ? [256 * cpus, 2048 * cpus] : [2048 * cpus, 8192 * cpus];
  if (memory < min || memory > max) return `invalid guest.memory_mb ${memory}: a ${kind} guest with ${cpus} CPU(s) takes ${min} to ${max} MB`;
  return null;
}

interface Cursor {
  /** Created time and id of the last item returned. */
  t: number;
  id: string;
  /** When the first page was requested. */
  at: number;
}

const CURSOR_TTL = 30 * 60 * 1000;

export function encodeCursor(c: Cursor): string {
  return Buffer.from(JSON.stringify(c)).toString("base64url");
}

function decodeCursor(text: string): Cursor | null {
  try {
    const c = JSON.parse(Buffer.from(text, "base64url").toString("utf8")) as unknown;
    if (isPlainObject(c) && typeof c.t === "number" && typeof c.id === "string" && typeof c.at === "number") return c as unknown as Cursor;
  } catch {
    // fall through
  }
  return null;
}

/**
 * Cursor pagination (`limit` + `cursor`): without a limit everything comes back at once.
 * Later pages only include items that existed when the first page was requested; cursors
 * expire 30 minutes after that.
 */
export function cursorPage<T>(items: T[], query: URLSearchParams, maxLimit: number, key: (item: T) => { t: number; id: string }): { items: T[]; next: string | null } | Reply {
  const rawLimit = query.get("limit");
  const rawCursor = query.get("cursor");
  if (rawLimit === null) {
    if (rawCursor !== null) return badRequest("cursor requires limit");
    return { items, next: null };
  }
  if (!/^\d+$/.test(rawLimit) || Number(rawLimit) < 1 || Number(rawLimit) > maxLimit) return badRequest(`limit must be between 1 and ${maxLimit}`);
  const limit = Number(rawLimit);
  const now = Date.now();
  let at = now;
  let rest = [...items].sort((a, b) => {
    const x = key(a);
    const y = key(b);
    return x.t - y.t || (x.id < y.id ? -1 : x.id > y.id ? 1 : 0);
  });
  if (rawCursor !== null) {
    const cursor = decodeCursor(rawCursor);
    if (!cursor) return badRequest("invalid cursor");
    if (now - cursor.at > CURSOR_TTL) return badRequest("cursor expired");
    at = cursor.at;
    rest = rest.filter((item) => {
      const k = key(item);
      return k.t <= at && (k.t > cursor.t || (k.t === cursor.t && k.id > cursor.id));
    });
  } else rest = rest.filter((item) => key(item).t <= at);
  const page = rest.slice(0, limit);
  const last = page.at(-1);
  const next = rest.length > limit && last ? encodeCursor({ ...key(last), at }) : null;
  return { items: page, next };
}
