import type { Command } from "commander";
import type { Context } from "../../context.js";
import { action, examples } from "../../lib/command.js";
import { UsageError } from "../../lib/errors.js";
import { addListFlags, listOptionsFrom, type ListFlags } from "../../lib/output.js";
import { confirmRisk } from "../../lib/prompt.js";
import { parseInteger } from "../../lib/validate.js";
import type { FailoverAbandonResult } from "../../migrate/failover-abandon.js";

/** `failover status` and `failover abandon`: the failovers' journals, and ending one that should not finish. */

export async function runFailoverAbandon(ctx: Context, opId: string): Promise<FailoverAbandonResult> {
  if (!/^op_[a-z0-9]+$/.test(opId)) throw new UsageError(`"${opId}" is not an operation id (op_...)`, { hint: "automna failover status lists them" });
  const [state, registry, config] = await Promise.all([ctx.state(), ctx.providers(), ctx.config()]);
  const [{ abandonableFailover, abandonFailover, fencedSource }, { parseDuration }] = await Promise.all([import("../../migrate/failover-abandon.js"), import("../../lib/validate.js")]);
  const { op, journal } = await abandonableFailover(state, opId);
  if (op.status !== "abandoned") {
    const p = op.params as { from?: string; to?: string };
    const stopped = fencedSource(op, journal) ? ` Its old agent on ${p.from} stays stopped (--force stopped it).` : "";
    await confirmRisk(ctx.prompt, ctx.globals.yes, `Abandon failover ${op.id} of ${op.user} (${op.status} at ${op.step ?? "start"})? What it made on ${p.to} is destroyed and ${op.user} stays on ${p.from}.${stopped}`,
      "failover abandon cancelled; nothing was changed");
  }
  const ttl = config.getString("migrate.leaseTtl");
  return abandonFailover({ state, registry, who: await ctx.operator(), leaseTtlMs: ttl ? parseDuration("migrate.leaseTtl", ttl) : 60_000 }, opId);
}

export function registerFailoverManage(failover: Command, ctx: Context, outputOf: (flags: { output?: string }) => string | undefined): void {
  addListFlags(failover
    .command("status")
    .description("unfinished and recent failovers with their step, or one with its journal")
    .argument("[op-id]", "an operation id"), "columns: op,user,status,step,from,to,updated,created,error", undefined, "at most this many (default: 50)")
    .addHelpText("after", examples("automna failover status", "automna failover status op_m3x9k2a1b7f3c2d1 -o json"))
    .action(action(ctx, async (opId: string | undefined, flags: ListFlags) => {
      const { runMigrateStatus, renderMigrateStatus } = await import("../../migrate/operation-status.js");
      const output = listOptionsFrom({ ...flags, output: outputOf(flags) }, ctx.globals.json);
      renderMigrateStatus(ctx, await runMigrateStatus(ctx, opId, parseInteger("--limit", flags.limit ?? "50", 1, 100_000), "failover"), output);
    }));

  failover
    .command("abandon")
    .description("end an unfinished failover (killed or failed, before its DNS switch): the target it made is destroyed and the user stays where it was; asks first unless --yes")
    .argument("<op-id>", "the operation id (automna failover status)")
    .addHelpText("after", examples("automna failover abandon op_m3x9k2a1b7f3c2d1 --yes"))
    .action(action(ctx, async (opId: string) => {
      const r = await runFailoverAbandon(ctx, opId);
      if (ctx.globals.json || outputOf({}) === "json") return ctx.io.json(r);
      if (r.sourceStopped) ctx.io.warn(`${r.user}'s old agent stays stopped (the forced failover stopped it)`);
      const removed = r.removed ? `the target on ${r.removed.provider} (${Object.entries(r.removed.resources).map(([k, v]) => `${k} ${v}`).join(", ")}) destroyed` : "no target had been made";
      ctx.io.success(`${r.op}: abandoned; ${removed}; ${r.user} can be failed over or migrated again`);
    }));
}
