import type { Command } from "commander";
import type { Context } from "../context.js";
import { runExec, type ExecOutcome } from "../access/exec.js";
import { action, examples, type CommandModule } from "../lib/command.js";
import { UsageError } from "../lib/errors.js";
import { prefixer } from "../lib/user-prefix.js";
import { DOCUMENT_FORMATS, renderDocument, resolveFormat } from "../lib/output.js";
import { addSelectionFlags, selectUsers, type SelectionFlags } from "../lib/selector-users.js";
import { parseDuration, parseInteger } from "../lib/validate.js";
import { count } from "../lib/words.js";

/**
 * Splits exec's operands into users and the command: commander hands over both as one list, and
 * only the raw argv says where `--` was.
 */
export function splitOperands(operands: string[], rawArgs: readonly string[]): { users: string[]; command: string[] } {
  const dash = rawArgs.indexOf("--");
  const count = dash < 0 ? 0 : rawArgs.length - dash - 1;
  return { users: operands.slice(0, operands.length - count), command: operands.slice(operands.length - count) };
}


export const execCommand: CommandModule = {
  register(command: Command, ctx: Context) {
    addSelectionFlags(command
      .argument("<users...>", "user ids (or -l/--all), then -- and the command")
      .option("--concurrency <n>", "machines at once", "16"), "every user with a live instance")
      .option("--provider <name>", "with -l or --all: only users on this provider")
      .option("-o, --output <format>", "table (lines as they come, prefixed by user), json or yaml (one document at the end)")
      .option("--timeout <duration>", "stop each command after this long (e.g. 30s, 5m)")
      .addHelpText("after", `${examples(
        "automna exec alice bob carol -- uptime",
        "automna exec alice bob -- 'du -sh /data'",
        "automna exec alice bob --json -- docker inspect -f '{{.State.Status}}' automna-agent",
        "automna exec -l plan=pro -- df -h /data",
        "automna exec --all --provider hetzner -- uptime",
      )}
The command (after --) is joined with spaces into one remote command line, as ssh does. Human output:
each line prefixed "user |" as it arrives (remote stderr on stderr). --json: one document,
[{user, provider, exitCode, signal, stdout, stderr, error}]. Exit 0 when every command exited 0,
3 when any failed or could not be reached, 2 for bad input (unknown or unprovisioned users).
`)
      .action(action(ctx, async (operands: string[], flags: SelectionFlags & { concurrency: string; timeout?: string; provider?: string; output?: string }, cmd: Command) => {
        const format = resolveFormat(flags.output, ctx.globals.json, DOCUMENT_FORMATS);
        // commander keeps the argv it parsed on the root command (untyped).
        const raw = (cmd.parent as (Command & { rawArgs?: string[] }) | null)?.rawArgs ?? [];
        const split = splitOperands(operands, raw);
        const command = split.command;
        if (command.length === 0) throw new UsageError("no command given", { hint: "put the command after --: automna exec alice bob -- uptime" });
        if (flags.provider !== undefined && split.users.length > 0) throw new UsageError("--provider selects with -l or --all; named users run wherever they are");
        const provider = flags.provider === undefined ? undefined : (await ctx.providers()).resolve(flags.provider).id;
        const users = await selectUsers(ctx, split.users, flags, { command: "exec", provider });
        const concurrency = parseInteger("--concurrency", flags.concurrency, 1, 1000);
        const timeoutMs = flags.timeout === undefined ? undefined : parseDuration("--timeout", flags.timeout);
        const json = format !== "table";
        const out = prefixer(ctx, users, "stdout");
        const err = prefixer(ctx, users, "stderr");
        const c = ctx.io.colorErr;
        const results = await runExec(ctx, {
          users, command, concurrency, timeoutMs, keepOutput: json,
          ...(json ? {} : {
            onLine: (user: string, stream: "stdout" | "stderr", line: string) => {
              if (stream === "stdout") ctx.io.out(out(user, line));
              else ctx.io.errorLine(err(user, line));
            },
          }),
          onDone: (o: ExecOutcome) => {
            if (o.error) ctx.io.errorLine(`${c.red("✗")} ${o.user}: ${o.error.message}`);
            else if (o.exitCode !== 0 && !json) ctx.io.errorLine(`${c.red("✗")} ${o.user}: exit ${o.exitCode}${o.signal ? ` (${o.signal})` : ""}`);
          },
        });
        if (json) renderDocument(ctx.io, format, results, () => undefined);
        const failed = results.filter((r) => r.exitCode !== 0);
        ctx.io.info(`${count(results.length, "user")}: ${results.length - failed.length} ok, ${failed.length} failed${failed.length ? ` (${failed.slice(0, 5).map((f) => f.user).join(", ")}${failed.length > 5 ? ", ..." : ""})` : ""}`);
        return failed.length ? 3 : 0;
      }));
  },
};
