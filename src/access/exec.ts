import type { Context } from "../context.js";
import { AutomnaError, errorJson, isAbortError } from "../lib/errors.js";
import { mapConcurrent } from "../lib/concurrency.js";
import { LineSplitter } from "./lines.js";
import { runOnTarget } from "./run.js";
import { resolveTargets, sshSettings } from "./target.js";

/** One user's result, the documented shape of `exec --json`. */
export interface ExecOutcome {
  user: string;
  provider: string;
  /** null when the command could not be run (the instance was unreachable). */
  exitCode: number | null;
  signal: string | null;
  stdout: string;
  stderr: string;
  error: { code: string; message: string; hint?: string } | null;
}

export interface ExecOptions {
  users: string[];
  /** Words after `--`, joined into one remote command line (as ssh does). */
  command: string[];
  concurrency: number;
  timeoutMs?: number | undefined;
  /** Keep each user's output in the result (--json); otherwise only `onLine` sees it. */
  keepOutput: boolean;
  /** Each complete output line as it arrives. */
  onLine?: ((user: string, stream: "stdout" | "stderr", line: string) => void) | undefined;
  /** A user finished (or could not be reached). */
  onDone?: ((outcome: ExecOutcome) => void) | undefined;
}

/**
 * Runs one command on many users' instances, at most `concurrency` at a time. Every user is
 * resolved before anything runs (an unknown or unready user is bad input, exit 2); a user whose
 * machine cannot be reached is a failed outcome, not an abort of the others.
 */
export async function runExec(ctx: Context, opts: ExecOptions): Promise<ExecOutcome[]> {
  const targets = await resolveTargets(ctx, opts.users);
  const settings = targets.some((t) => t.provider.reach === "ssh") ? await sshSettings(ctx) : undefined;
  const line = opts.command.join(" ");
  return mapConcurrent(targets, opts.concurrency, async (t): Promise<ExecOutcome> => {
    const split = { stdout: new LineSplitter(), stderr: new LineSplitter() };
    const emit = (stream: "stdout" | "stderr", lines: string[]): void => {
      for (const l of lines) opts.onLine?.(t.user, stream, l);
    };
    // Hooks see the output as it arrives (the caller prints it); the result keeps it only for --json.
    const kept = { stdout: [] as Buffer[], stderr: [] as Buffer[] };
    const take = (stream: "stdout" | "stderr") => (c: Buffer): void => {
      if (opts.keepOutput) kept[stream].push(c);
      emit(stream, split[stream].push(c));
    };
    let outcome: ExecOutcome;
    try {
      const res = await runOnTarget(ctx, t, settings, line, { timeoutMs: opts.timeoutMs, onStdout: take("stdout"), onStderr: take("stderr") });
      emit("stdout", split.stdout.end());
      emit("stderr", split.stderr.end());
      outcome = {
        user: t.user, provider: t.instance.provider, exitCode: res.exitCode, signal: res.signal ?? null,
        stdout: Buffer.concat(kept.stdout).toString("utf8"), stderr: Buffer.concat(kept.stderr).toString("utf8"), error: null,
      };
    } catch (error) {
      if (isAbortError(error) || !(error instanceof AutomnaError)) throw error;
      outcome = {
        user: t.user, provider: t.instance.provider, exitCode: null, signal: null, stdout: "", stderr: "",
        error: errorJson(error),
      };
    }
    opts.onDone?.(outcome);
    return outcome;
  });
}
