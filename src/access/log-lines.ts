/** One line of a user's agent log, in the documented shape of `logs --json` (NDJSON). */
export interface LogLine {
  user: string;
  provider: string;
  /** UTC, fixed width with nanoseconds (`2026-11-29T12:00:00.123456789Z`): compares as a string. */
  time: string;
  line: string;
}

const RFC3339 = /^(\d{4}-\d{2}-\d{2})T(\d{2}:\d{2}:\d{2})(?:\.(\d{1,9}))?(Z|[+-]\d{2}:?\d{2})$/;

/**
 * Any RFC 3339 time -> the fixed-width UTC form, so lines from providers that print times
 * differently (Docker's nanoseconds, Fly's milliseconds, offsets) merge by plain comparison.
 * Unparseable values come back unchanged.
 */
export function normalizeTime(value: string): string {
  // Docker's own format is already the target: the common case costs one test.
  if (value.length === 30 && value[29] === "Z" && value[19] === ".") return value;
  const m = RFC3339.exec(value);
  if (!m) return value;
  const frac = (m[3] ?? "").padEnd(9, "0");
  if (m[4] === "Z") return `${m[1]}T${m[2]}.${frac}Z`;
  const ms = Date.parse(`${m[1]}T${m[2]}${m[4]!.length === 5 ? `${m[4]!.slice(0, 3)}:${m[4]!.slice(3)}` : m[4]}`);
  if (Number.isNaN(ms)) return value;
  return `${new Date(ms).toISOString().slice(0, 19)}.${frac}Z`;
}

/** A `docker logs --timestamps` line: `<RFC3339Nano> <text>`; undefined when it has no timestamp. */
export function parseDockerLine(raw: string): { time: string; line: string } | undefined {
  const sp = raw.indexOf(" ");
  if (sp < 20 || raw[4] !== "-" || raw[10] !== "T") return undefined;
  const time = normalizeTime(raw.slice(0, sp));
  if (time.length !== 30) return undefined;
  return { time, line: raw.slice(sp + 1) };
}

/**
 * Where a follow resumes after its stream dropped: at the newest timestamp seen, dropping what
 * was already shown at that exact time (by content, counting repeats) and anything older. Log
 * timestamps only grow, so `--since <newest>` plus this filter gives no duplicates and no gaps.
 */
export class ResumePoint {
  #last = "";
  /** The lines seen at `#last`: one string in the common case, more only when times repeat. */
  #lastLine = "";
  #more: string[] | undefined;
  #cut = "";
  #cutSeen = new Map<string, number>();

  /** The newest timestamp accepted so far. */
  get since(): string | undefined {
    return this.#last || undefined;
  }

  /** The resume cut as bytes (fast comparison against raw lines), undefined before any reconnect. */
  get cutBytes(): Buffer | undefined {
    return this.#cutBytes;
  }

  #cutBytes: Buffer | undefined;

  /** A new connection begins: from here on, lines at or before what was seen are replays. */
  reconnect(): void {
    this.#cut = this.#last;
    this.#cutBytes = this.#last ? Buffer.from(this.#last, "latin1") : undefined;
    this.#cutSeen = new Map();
    if (!this.#last) return;
    for (const line of [this.#lastLine, ...(this.#more ?? [])]) this.#cutSeen.set(line, (this.#cutSeen.get(line) ?? 0) + 1);
  }

  /** Records a line shown without going through accept() (its replay check was done by the caller). */
  note(time: string, line: string): void {
    if (time > this.#last) {
      this.#last = time;
      this.#lastLine = line;
      this.#more = undefined;
    } else if (time === this.#last) (this.#more ??= []).push(line);
  }

  /** True when the line is new and should be shown. */
  accept(time: string, line: string): boolean {
    if (this.#cut) {
      if (time < this.#cut) return false;
      if (time === this.#cut) {
        const n = this.#cutSeen.get(line) ?? 0;
        if (n > 0) {
          this.#cutSeen.set(line, n - 1);
          return false;
        }
      }
    }
    if (time > this.#last) {
      this.#last = time;
      this.#lastLine = line;
      this.#more = undefined;
    } else if (time === this.#last) (this.#more ??= []).push(line);
    return true;
  }
}

/** Merges per-user lists (each in time order) into one, in time order; ties keep user order. */
export function mergeByTime(lists: LogLine[][]): LogLine[] {
  const all = lists.flat();
  // Array.prototype.sort is stable: equal times stay in the order of users given.
  return all.sort((a, b) => (a.time < b.time ? -1 : a.time > b.time ? 1 : 0));
}
