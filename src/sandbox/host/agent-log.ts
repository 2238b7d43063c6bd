import { open, readFile, stat } from "node:fs/promises";

/**
 * The agent's log as `docker logs --timestamps` prints it: one entry per line, each starting with
 * a fixed-width RFC3339 timestamp with nanoseconds (`2026-11-29T12:00:00.123456789Z`). Fixed width
 * means timestamps compare as strings, so filtering needs no date parsing per line. The file keeps
 * exactly this format on disk, so `cat` of it and `docker logs -t` print the same bytes.
 */
export interface LogEntry {
  /** `2026-11-29T12:00:00.123456789Z` */
  time: string;
  line: string;
}

export const TIMESTAMP_WIDTH = 30;

/** Formats nanoseconds since the epoch the way Docker's RFC3339NanoFixed does. */
export function formatTimestamp(ns: bigint): string {
  const ms = Number(ns / 1_000_000n);
  const nanos = (ns % 1_000_000_000n).toString().padStart(9, "0");
  return `${new Date(ms).toISOString().slice(0, 19)}.${nanos}Z`;
}

const DURATION_UNITS: Record<string, number> = { ns: 1e-6, us: 1e-3, "µs": 1e-3, ms: 1, s: 1000, m: 60_000, h: 3_600_000 };
const DURATION = /^(?:\d+(?:\.\d+)?(?:ns|us|µs|ms|s|m|h))+$/;
const UNIX = /^(\d+)(?:\.(\d{1,9}))?$/;
const RFC3339 = /^(\d{4})-(\d{2})-(\d{2})(?:T(\d{2}):(\d{2})(?::(\d{2})(?:\.(\d{1,9}))?)?(Z|[+-]\d{2}:\d{2})?)?$/;

/**
 * Parses a `docker logs --since/--until` value into a fixed-width timestamp: a Go duration
 * relative to now (`10m`, `1h30m`, `250ms`), a unix time (`1764417600.5`), or an RFC3339 time
 * with or without fraction and zone (no zone = UTC here, the sandbox hosts' zone). Returns
 * undefined for anything else, so the caller can answer like Docker does.
 */
export function parseLogTime(value: string, now: Date): string | undefined {
  const v = value.trim();
  if (DURATION.test(v)) {
    let ms = 0;
    for (const m of v.matchAll(/(\d+(?:\.\d+)?)(ns|us|µs|ms|s|m|h)/g)) ms += Number(m[1]) * (DURATION_UNITS[m[2] ?? "s"] ?? 0);
    return formatTimestamp(BigInt(Math.floor(now.getTime() - ms)) * 1_000_000n);
  }
  const unix = UNIX.exec(v);
  if (unix) return formatTimestamp(BigInt(unix[1] ?? "0") * 1_000_000_000n + BigInt((unix[2] ?? "").padEnd(9, "0")));
  const m = RFC3339.exec(v);
  if (!m) return undefined;
  const [, y, mo, d, h = "00", mi = "00", s = "00", frac = "", zone = "Z"] = m;
  let ms = Date.UTC(Number(y), Number(mo) - 1, Number(d), Number(h), Number(mi), Number(s));
  // Date.UTC rolls month 13 into next year; Docker rejects such a time, and so do we.
  const back = new Date(ms);
  if (back.getUTCMonth() + 1 !== Number(mo) || back.getUTCDate() !== Number(d) || Number(h) > 23 || Number(mi) > 59 || Number(s) > 59) return undefined;
  if (zone !== "Z") {
    const sign = zone.startsWith("-") ? -1 : 1;
    ms -= sign * (Number(zone.slice(1, 3)) * 60 + Number(zone.slice(4, 6))) * 60_000;
  }
  return formatTimestamp(BigInt(ms) * 1_000_000n + BigInt(frac.padEnd(9, "0")));
}

export function parseEntry(raw: string): LogEntry | undefined {
  if (raw.length < TIMESTAMP_WIDTH + 1 || raw[TIMESTAMP_WIDTH] !== " ") return undefined;
  return { time: raw.slice(0, TIMESTAMP_WIDTH), line: raw.slice(TIMESTAMP_WIDTH + 1) };
}

export interface LogQuery {
  /** Inclusive lower bound (fixed-width timestamp), like Docker's `--since`. */
  since?: string | undefined;
  /** Exclusive upper bound, like Docker's `--until`. */
  until?: string | undefined;
  /** Only the last N entries (after the time filter; the result is the same either way). */
  tail?: number | undefined;
}

/** Reads entries from the files in order (rotated first), filtered by the query. */
export async function readLog(files: string[], query: LogQuery): Promise<LogEntry[]> {
  const wanted = (e: LogEntry) => (!query.since || e.time >= query.since) && (!query.until || e.time < query.until);
  // A tail alone needs only the end of the files; reading them whole would make `--tail 5`
  // cost the log's full size on every call.
  const raw = query.tail !== undefined && !query.since && !query.until ? await lastLines(files, query.tail) : await allLines(files);
  const entries: LogEntry[] = [];
  for (const r of raw) {
    const e = parseEntry(r);
    if (e && wanted(e)) entries.push(e);
  }
  return query.tail === undefined ? entries : entries.slice(Math.max(0, entries.length - query.tail));
}

async function allLines(files: string[]): Promise<string[]> {
  const out: string[] = [];
  for (const f of files) {
    const text = await readFile(f, "utf8").catch(ignoreMissing);
    // A loop, not push(...lines): a spread of a few hundred thousand lines overflows the stack.
    if (text) for (const l of text.split("\n")) if (l.length > 0) out.push(l);
  }
  return out;
}

/** The last `n` lines across the files, read backwards in chunks. */
async function lastLines(files: string[], n: number): Promise<string[]> {
  if (n <= 0) return [];
  const out: string[] = [];
  for (const f of [...files].reverse()) {
    const size = (await stat(f).catch(ignoreMissing))?.size ?? 0;
    if (size === 0) continue;
    const fh = await open(f, "r");
    try {
      let end = size;
      let carry = Buffer.alloc(0);
      const lines: string[] = [];
      while (end > 0 && lines.length + out.length <= n) {
        const start = Math.max(0, end - 65_536);
        const chunk = Buffer.alloc(end - start);
        await fh.read(chunk, 0, chunk.length, start);
        let buf = Buffer.concat([chunk, carry]);
        // Split on bytes, not text: a chunk boundary may cut a multi-byte character, and the
        // partial first line waits (as bytes) for the next chunk unless this is the file's start.
        if (start > 0) {
          const nl = buf.indexOf(10);
          carry = nl < 0 ? buf : buf.subarray(0, nl);
          buf = nl < 0 ? Buffer.alloc(0) : buf.subarray(nl + 1);
        }
        lines.unshift(...buf.toString("utf8").split("\n").filter((l) => l.length > 0));
        end = start;
      }
      out.unshift(...lines);
    } finally {
      await fh.close();
    }
    if (out.length >= n) break;
  }
  return out.slice(Math.max(0, out.length - n));
}

function ignoreMissing(error: NodeJS.ErrnoException): undefined {
  if (error.code === "ENOENT") return undefined;
  throw error;
}
