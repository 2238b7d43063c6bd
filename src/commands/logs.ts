import type { Command } from "commander";
import type { Context } from "../context.js";
import type { LogLine } from "../access/log-lines.js";
import { runLogs } from "../access/logs.js";
import { action, examples, type CommandModule } from "../lib/command.js";
import { resolveFormat } from "../lib/output.js";
import { addSelectionFlags, selectUsers, type SelectionFlags } from "../lib/selector-users.js";
import { terminalBytes, terminalText } from "../lib/terminal-text.js";
import { parseInteger, parseSince } from "../lib/validate.js";
import { prefixer } from "../lib/user-prefix.js";

interface LogsFlags {
  follow?: boolean;
  since?: string;
  tail?: string;
  timestamps?: boolean;
  output?: string;
}

/**
 * Writes lines to stdout in one write per batch. When the pipe is full (a slow reader) the
 * returned promise holds the sources back until it drains, so memory stays flat.
 */
function writer(ctx: Context, stdout: NodeJS.WritableStream, users: string[], timestamps: boolean, ndjson: boolean): (lines: LogLine[]) => void | Promise<void> {
  const prefix = users.length > 1 ? prefixer(ctx, users, "stdout") : undefined;
  const dim = ctx.io.color.dim;
  const format = ndjson
    ? (l: LogLine) => JSON.stringify({ user: l.user, provider: l.provider, time: l.time, line: l.line })
    : (l: LogLine) => {
      // An agent's line may carry control sequences: shown clean; --json keeps them (escaped).
      const line = terminalText(l.line);
      const text = timestamps ? `${dim(l.time)} ${line}` : line;
      return prefix ? prefix(l.user, text) : text;
    };
  return (lines) => {
    if (lines.length === 0) return;
    let text = "";
    for (const l of lines) text += `${format(l)}\n`;
    if (!stdout.write(text)) return new Promise((resolve) => stdout.once("drain", () => resolve()));
  };
}

/**
 * Where log lines go. Node writes to a pipe on stdout synchronously, so reading the next chunk
 * from ssh waits for whoever reads automna's output each time. Switched to asynchronous writes
 * the two overlap; back-pressure still holds (`write` returns false, `drain` resumes ssh), and
 * `finish` waits for the queue to empty before automna exits.
 */
function outputStream(ctx: Context): NodeJS.WritableStream {
  const stdout = ctx.io.streams.stdout as NodeJS.WritableStream & { _type?: string; _handle?: { setBlocking?: (on: boolean) => void } };
  if (stdout._type === "pipe") stdout._handle?.setBlocking?.(false);
  return stdout;
}

/** Waits until everything written has left the process (a reader that went away is fine). */
function finish(out: NodeJS.WritableStream): Promise<void> {
  // Writes complete in order: once this empty one is done, so is everything before it.
  return new Promise((resolve) => {
    out.once("error", () => resolve());
    out.write("", () => resolve());
  });
}

export const logsCommand: CommandModule = {
  register(command: Command, ctx: Context) {
    addSelectionFlags(command
      .argument("[users...]", "user ids (or -l)"))
      .option("-f, --follow", "keep printing new lines until Ctrl-C")
      .option("--since <when>", "only lines since a duration ago (10m, 2h) or an ISO time")
      .option("--tail <n>", "only the last N lines of each user (before following)")
      .option("--timestamps", "show each line's time")
      .option("-o, --output <format>", "table (lines as they come) or ndjson ({user, provider, time, line} per line, as --json)")
      .addHelpText("after", `${examples(
        "automna logs alice --tail 50",
        "automna logs alice bob -f --since 10m",
        "automna logs -l cohort=beta --since 1h",
        "automna logs alice --since 2026-11-29T10:00:00Z --json | jq -r .line",
      )}
Hetzner and DigitalOcean: docker logs over SSH; Fly: the Fly logs API (since and tail applied here);
Koyeb: the logs query API, then -f over its log-tail WebSocket.
--json prints NDJSON, one {user, provider, time, line} per line. A dropped stream reconnects with
backoff and resumes after the last line shown. Ctrl-C ends a follow with exit 0 (as fly logs does);
exit 3 when some users' logs could not be read, 1 when the only user's could not.
`)
      .action(action(ctx, async (named: string[], flags: LogsFlags & SelectionFlags) => {
        const tail = flags.tail === undefined ? undefined : flags.tail === "all" ? undefined : parseInteger("--tail", flags.tail, 0);
        if (flags.since !== undefined) parseSince("--since", flags.since, ctx.clock.now());
        const ndjson = resolveFormat(flags.output, ctx.globals.json, ["table", "ndjson", "json"]) !== "table";
        const users = await selectUsers(ctx, named, flags, { command: "logs" });
        const c = ctx.io.colorErr;
        const plain = users.length === 1 && !ndjson && flags.timestamps !== true;
        const stdout = outputStream(ctx);
        // A reader that went away (`automna logs -f alice | head`) ends the run quietly.
        const gone = new AbortController();
        const onError = (error: NodeJS.ErrnoException): void => {
          if (error.code === "EPIPE") gone.abort();
        };
        stdout.on("error", onError);
        const result = await runLogs(ctx, {
          users, since: flags.since, tail, follow: flags.follow === true, stop: gone.signal,
          onLines: writer(ctx, stdout, users, flags.timestamps === true, ndjson),
          // One user, plain text: the lines arrive as bytes ready to print.
          ...(plain ? { onText: (bytes: Buffer) => (stdout.write(terminalBytes(bytes)) ? undefined : new Promise<void>((resolve) => stdout.once("drain", () => resolve()))) } : {}),
          onError: (user, error) => {
            if (users.length > 1) ctx.io.errorLine(`${c.red("✗")} ${user}: ${error.message}`);
          },
        });
        await finish(stdout);
        stdout.off("error", onError);
        if (gone.signal.aborted) return 0;
        if (result.failed.length === 0) return 0;
        // One user: its error is the command's (exit code and hint); several: a partial result.
        if (users.length === 1) throw result.failed[0]!.error;
        return 3;
      }));
  },
};
