import type { Context } from "../context.js";
import { AutomnaError, isAbortError } from "../lib/errors.js";
import { mapConcurrent } from "../lib/concurrency.js";
import { parseDuration, parseSince } from "../lib/validate.js";
import { mergeByTime, normalizeTime, type LogLine } from "./log-lines.js";
import { ApiLogSource, SshLogSource, type Emit, type EmitText, type LogQuery, type LogSource } from "./log-sources.js";
import { resolveTargets, sshSettings } from "./target.js";

export interface LogsOptions {
  users: string[];
  /** `10m`, `2h`, or an ISO time. */
  since?: string | undefined;
  /** Last N lines per user. */
  tail?: number | undefined;
  follow: boolean;
  /** Receives lines in time order (merged across users); a promise means "wait, the output is full". */
  onLines: Emit;
  /**
   * With one user shown as plain text (no times, no JSON): sources that can deliver the lines as
   * ready-to-print bytes go here instead, skipping a string and an object per line.
   */
  onText?: EmitText | undefined;
  /** A user's log could not be read (the others go on). */
  onError?: ((user: string, error: AutomnaError) => void) | undefined;
  /** Ends the run cleanly, like Ctrl-C (the reader of the output went away). */
  stop?: AbortSignal | undefined;
}

export interface LogsResult {
  lines: number;
  failed: { user: string; error: AutomnaError }[];
}

/** `--since` as each source needs it: relative for Docker (the host's own clock), absolute for filtering here. */
export function logQuery(since: string | undefined, tail: number | undefined, now: Date): LogQuery {
  if (since === undefined) return { tail };
  const parsed = parseSince("--since", since, now);
  const relative = /^\d/.test(since) && !/^\d{4}-\d{2}-\d{2}/.test(since);
  if (relative) return { since: { docker: `${Math.max(0, Math.round(parseDuration("--since", since) / 1000))}s`, at: normalizeTime(parsed.toISOString()) }, tail };
  // An absolute time keeps the nanoseconds it was given (a Date has milliseconds only): a line's
  // own timestamp passed back as --since must select that line first, not an earlier one in the
  // same millisecond. Docker takes RFC 3339 with nanoseconds as it is.
  const exact = normalizeTime(since);
  const at = exact.length === 30 && exact.endsWith("Z") ? exact : normalizeTime(parsed.toISOString());
  return { since: { docker: at, at }, tail };
}

/**
 * Lines from several sources as they arrive, emitted in time order after a short hold: lines of
 * different users that arrive within the window come out sorted. One user needs no holding.
 */
class ReorderWindow {
  readonly #emit: Emit;
  readonly #holdMs: number;
  #queue: { at: number; lines: LogLine[] }[] = [];
  readonly #timer: NodeJS.Timeout;

  constructor(emit: Emit, holdMs = 200) {
    this.#emit = emit;
    this.#holdMs = holdMs;
    this.#timer = setInterval(() => void this.#flush(Date.now() - this.#holdMs), 50);
  }

  push: Emit = (lines) => {
    this.#queue.push({ at: Date.now(), lines });
  };

  async #flush(cut: number): Promise<void> {
    const ready = this.#queue.filter((b) => b.at <= cut);
    if (ready.length === 0) return;
    this.#queue = this.#queue.filter((b) => b.at > cut);
    await this.#emit(mergeByTime(ready.map((b) => b.lines)));
  }

  async close(): Promise<void> {
    clearInterval(this.#timer);
    await this.#flush(Infinity);
  }
}

/**
 * `automna logs`: each user's agent log, merged in time order. First what exists (`--since`,
 * `--tail` per user), then with `follow` what comes next: each source reconnects with backoff
 * after a drop and resumes after the last line it delivered, without duplicates or gaps. The
 * follow ends on Ctrl-C (a clean stop) or when every source is lost.
 */
export async function runLogs(ctx: Context, opts: LogsOptions): Promise<LogsResult> {
  const targets = await resolveTargets(ctx, opts.users);
  const query = logQuery(opts.since, opts.tail, ctx.clock.now());
  const settings = targets.some((t) => t.provider.reach === "ssh") ? await sshSettings(ctx) : undefined;
  const signal = opts.stop ? AbortSignal.any([ctx.signal, opts.stop]) : ctx.signal;
  const sources: LogSource[] = targets.map((t) => {
    const api = t.provider.access(t.instance).api;
    return api ? new ApiLogSource(t, api, query, signal) : new SshLogSource(t, settings!, query, ctx.env, signal);
  });
  const result: LogsResult = { lines: 0, failed: [] };
  const count: Emit = (lines) => {
    result.lines += lines.length;
    return opts.onLines(lines);
  };
  const text: EmitText | undefined = opts.onText && sources.length === 1 ? (bytes, lines) => {
    result.lines += lines;
    return opts.onText!(bytes, lines);
  } : undefined;
  const fail = (source: LogSource, error: unknown): void => {
    if (!(error instanceof AutomnaError)) throw error;
    result.failed.push({ user: source.target.user, error });
    opts.onError?.(source.target.user, error);
  };
  if (opts.follow) ctx.abortIsStop = true;
  const live: LogSource[] = [];
  try {
    if (sources.length === 1) {
      await sources[0]!.backlog(count, text).then(() => live.push(sources[0]!), (e: unknown) => fail(sources[0]!, e));
    } else {
      const lists = await mapConcurrent(sources, 16, async (s) => {
        const lines: LogLine[] = [];
        try {
          await s.backlog((batch) => void lines.push(...batch));
          live.push(s);
        } catch (error) {
          fail(s, error);
        }
        return lines;
      });
      await count(mergeByTime(lists));
    }
    if (!opts.follow) return result;
    const window = sources.length > 1 ? new ReorderWindow(count) : undefined;
    try {
      await Promise.all(live.map((s) => s.follow(window ? window.push : count, text).catch((e: unknown) => fail(s, e))));
    } finally {
      await window?.close();
    }
    return result;
  } catch (error) {
    // Ctrl-C in a follow is how it is meant to end.
    if ((opts.follow || opts.stop?.aborted) && (isAbortError(error) || signal.aborted)) return result;
    throw error;
  }
}
