import type { Command } from "commander";
import type { Context } from "../../context.js";
import { action, examples } from "../../lib/command.js";
import { addListFlags, listOptionsFrom, renderList, type Column } from "../../lib/output.js";
import { parseInteger, parseSince } from "../../lib/validate.js";
import type { AuditEntry, AuditFilter } from "../../state/types.js";

const COLUMNS: Column<AuditEntry>[] = [
  { name: "id", value: (a) => a.id, align: "right" },
  { name: "at", value: (a) => a.at },
  { name: "who", value: (a) => a.who },
  { name: "action", value: (a) => a.action },
  { name: "target", value: (a) => a.target },
  { name: "request", value: (a) => a.requestId },
  { name: "details", value: (a) => JSON.stringify(a.details), optional: true },
];

export interface AuditOptions {
  who?: string | undefined;
  action?: string | undefined;
  target?: string | undefined;
  since?: string | undefined;
  until?: string | undefined;
  limit?: string | undefined;
}

/** The latest entries matching the filters, oldest first (through whatever store is configured). */
export async function runStateAudit(ctx: Context, opts: AuditOptions): Promise<AuditEntry[]> {
  const now = ctx.clock.now();
  const filter: AuditFilter = {
    ...(opts.who ? { who: opts.who } : {}),
    ...(opts.action ? { action: opts.action } : {}),
    ...(opts.target ? { target: opts.target } : {}),
    ...(opts.since ? { since: parseSince("--since", opts.since, now).toISOString() } : {}),
    ...(opts.until ? { until: parseSince("--until", opts.until, now).toISOString() } : {}),
    limit: opts.limit === undefined ? 100 : parseInteger("--limit", opts.limit, 1, 100_000),
    order: "desc",
  };
  const store = await ctx.state();
  return (await store.listAudit(filter)).reverse();
}

export function registerAudit(state: Command, ctx: Context): void {
  addListFlags(state
    .command("audit")
    .description("who did what, when: the append-only audit log (latest entries, oldest first)")
    .option("--who <operator>", "only this operator")
    .option("--action <action>", "only this action, e.g. lease.break or instance.update")
    .option("--target <user>", "only entries about this user (or token operator)")
    .option("--since <when>", "from this time: a duration ago (10m, 2h, 7d) or an ISO time")
    .option("--until <when>", "before this time: a duration ago or an ISO time"), COLUMNS, undefined, "at most this many of the latest entries (default 100)")
    .addHelpText("after", examples("automna state audit --since 1h", "automna state audit --action lease.break -o json", "automna state audit --who ann --target alice"))
    .action(action(ctx, async (opts: AuditOptions & { output?: string; columns?: string; header: boolean }) => {
      renderList(ctx.io, await runStateAudit(ctx, opts), COLUMNS, listOptionsFrom(opts, ctx.globals.json));
    }));
}
