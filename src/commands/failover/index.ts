import type { Command } from "commander";
import type { Context } from "../../context.js";
import { action, examples, type CommandModule } from "../../lib/command.js";
import { CancelledError, errorJson, UsageError } from "../../lib/errors.js";
import { addOutputFlag, DOCUMENT_FORMATS, renderDocument, renderList, resolveFormat, type Column } from "../../lib/output.js";
import { parseInteger } from "../../lib/validate.js";
import type { FailoverOutcome } from "../../migrate/failover.js";
import { registerFailoverManage } from "./manage.js";
import { planFailover, type FailoverRequest, type PlannedFailover } from "./plan.js";

interface FailoverFlags {
  provider?: string;
  region?: string;
  to?: string;
  toRegion?: string;
  toSize?: string;
  force?: boolean;
  concurrency: string;
  dryRun?: boolean;
  output?: string;
}

/** "3h 12m", "45 s": how old a backup is. */
export function ageText(ms: number): string {
  const s = Math.round(ms / 1000);
  if (s < 120) return `${s} s`;
  const m = Math.round(s / 60);
  if (m < 120) return `${m} min`;
  const h = Math.floor(m / 60);
  return h < 48 ? `${h}h ${m % 60}m` : `${Math.floor(h / 24)}d ${h % 24}h`;
}

const PLAN_COLUMNS: Column<PlannedFailover>[] = [
  { name: "user", value: (p) => p.user },
  { name: "from", value: (p) => p.from },
  { name: "backup", value: (p) => p.backupId },
  { name: "taken", value: (p) => p.backupTime },
  { name: "at-risk", header: "DATA AT RISK", value: (p) => `${ageText(p.dataAtRiskMs)} of writes` },
  { name: "note", value: (p) => [p.resume ? `resumes ${p.resume}` : p.healthy ? "answers: stopped first (--force)" : "", p.env ? "" : "backup holds no env: comes back without it"].filter(Boolean).join("; ") || null },
];

const COLUMNS: Column<FailoverOutcome>[] = [
  { name: "user", value: (r) => r.user },
  { name: "result", value: (r) => r.result },
  { name: "from", value: (r) => r.from },
  { name: "to", value: (r) => r.to },
  { name: "backup", value: (r) => r.backupId },
  { name: "recovery", value: (r) => r.recoveryMs === null ? null : `${(r.recoveryMs / 1000).toFixed(1)} s` },
  { name: "op", value: (r) => r.op },
  { name: "error", value: (r) => r.error?.message.split("\n")[0] ?? null },
];

/** `automna failover`: plans (with the data at risk per user), asks, then fails users over `concurrency` at once. */
export async function runFailover(ctx: Context, req: FailoverRequest, opts: { concurrency: number; dryRun: boolean }): Promise<{ plan: PlannedFailover[]; results: FailoverOutcome[] | null }> {
  const [{ hostRunner }, { buildEngineDeps }, { failoverUser }, { mapConcurrent }] = await Promise.all([
    import("../../migrate/exec.js"), import("../../migrate/deps.js"), import("../../migrate/failover.js"), import("../../lib/concurrency.js"),
  ]);
  const sink: { board?: import("../../lib/io.js").ProgressBoard } = {};
  const deps = await buildEngineDeps(ctx, await hostRunner(ctx), (e) => {
    if (e.type === "warn") return ctx.io.warn(`${e.user}: ${e.message}`);
    if (e.type === "step" && e.phase !== "done") sink.board?.update(e.user, `${e.step}: ${e.message}`);
  });
  try {
    const plan = await planFailover(ctx, req, deps.objects, deps.health);
    if (opts.dryRun) return { plan, results: null };
    if (!ctx.globals.yes) {
      renderList(ctx.io, plan, PLAN_COLUMNS, { format: "table" });
      const ok = await ctx.prompt.confirm({ message: `Fail ${plan.length === 1 ? plan[0]!.user : `${plan.length} users`} over to ${req.to}? Each loses what was written since its backup (DATA AT RISK above).`, flag: "--yes", default: false });
      if (!ok) throw new CancelledError("failover cancelled; nothing was changed");
    }
    for (const p of plan) ctx.io.verbose(`${p.user}: restores ${p.backupId} (${ageText(p.dataAtRiskMs)} old)`);
    const board = ctx.io.board();
    sink.board = board;
    try {
      const results = await mapConcurrent(plan, opts.concurrency, async (p): Promise<FailoverOutcome> => {
        let r: FailoverOutcome;
        try {
          r = await failoverUser(deps, p.user, p.params);
        } catch (error) {
          r = { user: p.user, op: p.resume ?? "", result: "failed", from: p.from, to: req.to, backupId: p.backupId, backupTime: p.backupTime, recoveryMs: null, step: null, error: errorJson(error) };
        }
        if (r.result === "failed_over") board.done(p.user, `on ${r.to} from ${r.backupId}${r.recoveryMs === null ? "" : ` (${(r.recoveryMs / 1000).toFixed(1)} s)`}; old instance marked lost`);
        else board.fail(p.user, `failed at ${r.step ?? "start"}: ${r.error?.message.split("\n")[0] ?? "unknown"}`);
        return r;
      });
      return { plan, results };
    } finally {
      board.close();
    }
  } finally {
    await deps.close();
  }
}

export const failoverCommand: CommandModule = {
  register(command: Command, ctx: Context) {
    addOutputFlag(command
      .argument("[users...]", "user ids")
      .option("--provider <name>", "every live user on this provider (the one that is down)")
      .option("--region <region>", "with --provider: only users in this region")
      .option("--to <provider>", "provider to bring the users back on (required)")
      .option("--to-region <region>", "region on the target (default: its default region)")
      .option("--to-size <size>", "size on the target (default: its default size)")
      .option("--force", "fail over even users whose agent still answers (it is stopped first)")
      .option("--concurrency <n>", "users failed over at once", "8")
      .option("--dry-run", "only show who would fail over, from which backup, and the data at risk"))
      .addHelpText("after", examples("automna failover --provider hetzner --to fly", "automna failover alice --to hetzner --yes", "automna failover --provider hetzner --region fsn1 --to fly --dry-run", "automna failover status", "automna failover abandon op_m3x9k2a1b7f3c2d1 --yes"))
      .action(action(ctx, async (users: string[], flags: FailoverFlags) => {
        const format = resolveFormat(flags.output, ctx.globals.json, DOCUMENT_FORMATS);
        if (!flags.to) throw new UsageError("--to is required: the provider to bring the users back on", { hint: "automna failover --provider hetzner --to fly" });
        const req: FailoverRequest = { users, provider: flags.provider, region: flags.region, to: flags.to, toRegion: flags.toRegion, toSize: flags.toSize, force: flags.force === true };
        const { plan, results } = await runFailover(ctx, req, { concurrency: parseInteger("--concurrency", flags.concurrency, 1, 64), dryRun: flags.dryRun === true });
        if (!results) {
          if (format === "table") renderList(ctx.io, plan, PLAN_COLUMNS, { format: "table" });
          else renderDocument(ctx.io, format, { dryRun: true, plan }, () => undefined);
          return 0;
        }
        const failed = results.filter((r) => r.result === "failed").length;
        const summary = { failedOver: results.length - failed, failed };
        renderDocument(ctx.io, format, { results, summary }, () => {
          renderList(ctx.io, results, COLUMNS, { format: "table" });
          ctx.io.info(`${summary.failedOver} failed over, ${failed} failed${failed ? "; run the same command again to resume them" : ""}`);
        });
        if (failed === 0) return 0;
        return failed === results.length ? 1 : 3;
      }));
    // `-o` after a subcommand's name is parsed by failover itself (its own -o): taken from there too.
    registerFailoverManage(command, ctx, (flags) => flags.output ?? command.opts<{ output?: string }>().output);
  },
};
