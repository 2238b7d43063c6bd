import type { Reply } from "../http.js";
import { isPlainObject } from "../util.js";

/** Fly's error body: `{error, status?}` (`status` only for the documented codes). */
export function flyError(status: number, error: string, code?: "unknown" | "insufficient_capacity" | "volume_placement_capacity" | "name_taken"): Reply {
  return { status, body: code ? { error, status: code } : { error } };
}

export function badRequest(message: string): Reply {
  return flyError(400, message);
}

/**
 * Fly regions as `GET /v1/platform/regions` lists them (`main.regionRow`): code, city, geo region
 * and coordinates. None is marked deprecated or paid-only here.
 */
export const REGION_ROWS: readonly { code: string; name: string; geo: string; lat: number; lon: number }[] = [
  { code: "ams", name: "Amsterdam, Netherlands", geo: "eu", lat: 52.37, lon: 4.9 },
  { code: "arn", name: "Stockholm, Sweden", geo: "eu", lat: 59.33, lon: 18.07 },
  { code: "atl", name: "Atlanta, Georgia (US)", geo: "na", lat: 33.75, lon: -84.39 },
  { code: "bog", name: "Bogotá, Colombia", geo: "sa", lat: 4.71, lon: -74.07 },
  { code: "bom", name: "Mumbai, India", geo: "as", lat: 19.08, lon: 72.88 },
  { code: "bos", name: "Boston, Massachusetts (US)", geo: "na", lat: 42.36, lon: -71.06 },
  { code: "cdg", name: "Paris, France", geo: "eu", lat: 48.86, lon: 2.35 },
  { code: "den", name: "Denver, Colorado (US)", geo: "na", lat: 39.74, lon: -104.99 },
  { code: "dfw", name: "Dallas, Texas (US)", geo: "na", lat: 32.78, lon: -96.8 },
  { code: "ewr", name: "Secaucus, NJ (US)", geo: "na", lat: 40.79, lon: -74.06 },
  { code: "eze", name: "Ezeiza, Argentina", geo: "sa", lat: -34.82, lon: -58.53 },
  { code: "fra", name: "Frankfurt, Germany", geo: "eu", lat: 50.11, lon: 8.68 },
  { code: "gdl", name: "Guadalajara, Mexico", geo: "na", lat: 20.67, lon: -103.35 },
  { code: "gig", name: "Rio de Janeiro, Brazil", geo: "sa", lat: -22.91, lon: -43.17 },
  { code: "gru", name: "Sao Paulo, Brazil", geo: "sa", lat: -23.55, lon: -46.63 },
  { code: "hkg", name: "Hong Kong, Hong Kong", geo: "as", lat: 22.32, lon: 114.17 },
  { code: "iad", name: "Ashburn, Virginia (US)", geo: "na", lat: 39.04, lon: -77.49 },
  { code: "jnb", name: "Johannesburg, South Africa", geo: "af", lat: -26.2, lon: 28.05 },
  { code: "lax", name: "Los Angeles, California (US)", geo: "na", lat: 34.05, lon: -118.24 },
  { code: "lhr", name: "London, United Kingdom", geo: "eu", lat: 51.51, lon: -0.13 },
  { code: "mad", name: "Madrid, Spain", geo: "eu", lat: 40.42, lon: -3.7 },
  { code: "mia", name: "Miami, Florida (US)", geo: "na", lat: 25.76, lon: -80.19 },
  { code: "nrt", name: "Tokyo, Japan", geo: "as", lat: 35.68, lon: 139.69 },
  { code: "ord", name: "Chicago, Illinois (US)", geo: "na", lat: 41.88, lon: -87.63 },
  { code: "otp", name: "Bucharest, Romania", geo: "eu", lat: 44.43, lon: 26.1 },
  { code: "phx", name: "Phoenix, Arizona (US)", geo: "na", lat: 33.45, lon: -112.07 },
  { code: "qro", name: "Querétaro, Mexico", geo: "na", lat: 20.59, lon: -100.39 },
  { code: "scl", name: "Santiago, Chile", geo: "sa", lat: -33.45, lon: -70.67 },
  { code: "sea", name: "Seattle, Washington (US)", geo: "na", lat: 47.61, lon: -122.33 },
  { code: "sin", name: "Singapore, Singapore", geo: "as", lat: 1.35, lon: 103.82 },
  { code: "sjc", name: "San Jose, California (US)", geo: "na", lat: 37.34, lon: -121.89 },
  { code: "syd", name: "Sydney, Australia", geo: "oc", lat: -33.87, lon: 151.21 },
  { code: "waw", name: "Warsaw, Poland", geo: "eu", lat: 52.23, lon: 21.01 },
  { code: "yul", name: "Montreal, Canada", geo: "na", lat: 45.5, lon: -73.57 },
  { code: "yyz", name: "Toronto, Canada", geo: "na", lat: 43.65, lon: -79.38 },
];

/** Fly region codes. */
export const REGIONS = new Set(REGION_ROWS.map((r) => r.code));

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
