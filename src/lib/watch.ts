import type { Context } from "../context.js";
import { UsageError } from "./errors.js";
import { fitWidth } from "./io.js";
import type { OutputFormat } from "./output.js";
import { terminalText } from "./terminal-text.js";
import { parseDuration } from "./validate.js";

/** What `--watch` needs of a command: its rows, how to tell them apart and changed, and how to draw them. */
export interface WatchSpec<T> {
  /** Between two reads. */
  intervalMs: number;
  /** The command as typed, for the frame's title. */
  title: string;
  read(): Promise<T[]>;
  /** A row's identity across reads (an instance id, a user). */
  key(row: T): string;
  /** A row's document in a change event. */
  json(row: T): unknown;
  /** What a change is: rows whose fingerprint differs are "modified" (volatile fields left out). */
  fingerprint(row: T): string;
  /** A terminal frame's lines for these rows. */
  frame(rows: T[]): string[];
}

export type WatchEvent = { type: "added" | "modified" | "deleted"; at: string; key: string; object: unknown };

/** `--watch` with `--interval`: the interval, and the formats it can print. */
export function watchInterval(flags: { interval?: string | undefined; watch?: boolean | undefined }, format: OutputFormat): number {
  if (!flags.watch) {
    if (flags.interval !== undefined) throw new UsageError("--interval goes with --watch");
    return 0;
  }
  if (format === "csv" || format === "yaml") throw new UsageError(`--watch prints a live table or NDJSON change events, not ${format}`, { hint: "drop -o, or use -o ndjson" });
  const ms = parseDuration("--interval", flags.interval ?? "2s");
  if (ms < 200) throw new UsageError("--interval must be at least 200ms");
  return ms;
}

/** Waits `ms`, or less when the run is stopped. */
function pause(signal: AbortSignal, ms: number): Promise<void> {
  return new Promise((resolve) => {
    if (signal.aborted) return resolve();
    const done = (): void => {
      clearTimeout(timer);
      signal.removeEventListener("abort", done);
      resolve();
    };
    const timer = setTimeout(done, ms);
    signal.addEventListener("abort", done, { once: true });
  });
}

/**
 * Reads and shows the rows until Ctrl-C (exit 0, as kubectl get -w and watch(1) end). On a
 * terminal, in table format: a frame redrawn in place, fitted to the terminal's width and height
 * as they are at each draw (so a resize re-fits), the last one left on screen. Otherwise (piped,
 * or -o json/ndjson): NDJSON change events, every row `added` first, then what was added,
 * modified or deleted at each read, so a consumer follows the fleet from one stream.
 */
export async function watch<T>(ctx: Context, format: OutputFormat, spec: WatchSpec<T>): Promise<number> {
  ctx.abortIsStop = true;
  const stdout = ctx.io.streams.stdout as typeof ctx.io.streams.stdout & { rows?: number; on?(e: string, f: () => void): unknown; off?(e: string, f: () => void): unknown };
  const live = stdout.isTTY === true && format === "table";
  const signal = ctx.signal;
  if (!live) {
    let seen = new Map<string, string>();
    while (!signal.aborted) {
      const rows = await spec.read();
      const at = ctx.clock.now().toISOString();
      const next = new Map<string, string>();
      for (const row of rows) {
        const key = spec.key(row);
        const print = spec.fingerprint(row);
        next.set(key, print);
        const before = seen.get(key);
        if (before !== print) ctx.io.ndjson({ type: before === undefined ? "added" : "modified", at, key, object: spec.json(row) } satisfies WatchEvent);
      }
      for (const key of seen.keys()) if (!next.has(key)) ctx.io.ndjson({ type: "deleted", at, key, object: null } satisfies WatchEvent);
      seen = next;
      await pause(signal, spec.intervalMs);
    }
    return 0;
  }
  let drawn = 0;
  let rows: T[] = [];
  const draw = (): void => {
    const width = Math.max(10, (stdout.columns ?? 80) - 1);
    const height = Math.max(3, (stdout.rows ?? 24) - 1);
    const time = ctx.clock.now().toISOString().slice(11, 19);
    let lines = [ctx.io.color.dim(`${spec.title} · every ${spec.intervalMs / 1000}s · ${time} UTC · Ctrl-C to stop`), ...spec.frame(rows)];
    if (lines.length > height) lines = [...lines.slice(0, height - 1), ctx.io.color.dim(`… ${lines.length - height + 1} more rows (a taller terminal, or --limit)`)];
    // Over the last frame line by line (as the progress board does), each line cut to the width.
    const erase = drawn > 0 ? `\x1b[${drawn}A${"\x1b[2K\n".repeat(drawn)}\x1b[${drawn}A` : "";
    ctx.io.write(erase + lines.map((l) => `${fitWidth(terminalText(l, { colour: ctx.io.color.level > 0, oneLine: true }), width)}\n`).join(""));
    drawn = lines.length;
  };
  const onResize = (): void => draw();
  stdout.on?.("resize", onResize);
  try {
    while (!signal.aborted) {
      rows = await spec.read();
      if (signal.aborted) break;
      draw();
      await pause(signal, spec.intervalMs);
    }
  } finally {
    stdout.off?.("resize", onResize);
  }
  return 0;
}
