import type { Context } from "../../context.js";
import { CancelledError, errorJson, NotFoundError, rememberFailure, UsageError } from "../../lib/errors.js";
import { confirmRisk } from "../../lib/prompt.js";
import { selectUsers } from "../../lib/selector-users.js";
import { parseDuration, validateUsers } from "../../lib/validate.js";
import type { MigrateOutcome, VerifyMode } from "../../migrate/types.js";
import { watchStateWaits, type Progress } from "./progress.js";

export interface MigrateOptions {
  users: string[];
  all: boolean;
  /** `-l`: the users live on --from whose labels match. */
  selector?: string | undefined;
  from: string;
  to: string;
  region?: string | undefined;
  size?: string | undefined;
  image?: string | undefined;
  dryRun: boolean;
  concurrency: number;
  keepSource: string;
  verify: VerifyMode;
  /** Progress as NDJSON events on stdout (`-o ndjson`). */
  ndjson: boolean;
}

export interface DryRunRow {
  user: string;
  from: string;
  to: string;
  region: string;
  size: string;
  monthlyBefore: number | null;
  currencyBefore: string | null;
  monthlyAfter: number;
  currencyAfter: string;
  /** Bytes of /data (`du -sb` on the host); null when the host could not be asked. */
  dataBytes: number | null;
}

export interface DryRunReport {
  dryRun: true;
  users: DryRunRow[];
  /** Monthly totals in USD (EUR converted at pricing.eurUsd). */
  total: { before: number; after: number; saving: number; currency: "USD"; dataBytes: number };
}

function usd(amount: number | null, currency: string | null, eurUsd: number): number {
  if (amount === null) return 0;
  return currency === "EUR" ? amount * eurUsd : amount;
}

const round = (n: number): number => Math.round(n * 100) / 100;

async function dryRun(ctx: Context, plan: import("../../migrate/plan.js").MigrationPlan): Promise<DryRunReport> {
  const config = await ctx.config();
  const eurUsd = config.getNumber("pricing.eurUsd") ?? 1.08;
  const [{ hostRunner }, { dataBytes }, { mapConcurrent }] = await Promise.all([import("../../migrate/exec.js"), import("../../migrate/host.js"), import("../../lib/concurrency.js")]);
  const run = await hostRunner(ctx);
  const { abortableSleep } = await import("../../migrate/deps.js");
  const hostDeps = { run, sleep: abortableSleep(ctx.signal), signal: ctx.signal };
  const rows = await mapConcurrent(plan.users, 8, async (p): Promise<DryRunRow> => {
    let bytes: number | null = null;
    try {
      bytes = await dataBytes(hostDeps, p.source);
    } catch (error) {
      ctx.io.warn(`${p.user}: could not measure /data: ${(error as Error).message}`);
    }
    return {
      user: p.user, from: p.params.from, to: p.params.to, region: p.params.region, size: p.params.size,
      monthlyBefore: p.before.monthly, currencyBefore: p.before.currency, monthlyAfter: p.after.monthly, currencyAfter: p.after.currency, dataBytes: bytes,
    };
  });
  const before = round(rows.reduce((s, r) => s + usd(r.monthlyBefore, r.currencyBefore, eurUsd), 0));
  const after = round(rows.reduce((s, r) => s + usd(r.monthlyAfter, r.currencyAfter, eurUsd), 0));
  return { dryRun: true, users: rows, total: { before, after, saving: round(before - after), currency: "USD", dataBytes: rows.reduce((s, r) => s + (r.dataBytes ?? 0), 0) } };
}

/** `automna migrate`: plans, confirms, then migrates each user (at most `concurrency` at once). */
export async function runMigrate(ctx: Context, opts: MigrateOptions, progress: () => Progress): Promise<DryRunReport | MigrateOutcome[]> {
  if (opts.all && opts.users.length) throw new UsageError("give users or --all, not both");
  if (!opts.all && opts.users.length === 0 && opts.selector === undefined) {
    throw new UsageError("name the users to migrate, select them with -l, or pass --all", { hint: "automna migrate alice --from fly --to hetzner" });
  }
  const users = opts.selector !== undefined
    ? await selectUsers(ctx, opts.users, { selector: opts.selector, all: opts.all }, { command: "migrate", provider: (await ctx.providers()).resolve(opts.from).id })
    : opts.all ? "all" : validateUsers(opts.users);
  const keepSourceMs = parseDuration("--keep-source", opts.keepSource);
  const { planMigration } = await import("../../migrate/plan.js");
  const plan = await planMigration(ctx, { users, from: opts.from, to: opts.to, region: opts.region, size: opts.size, image: opts.image, keepSourceMs, verify: opts.verify });
  if (opts.dryRun) return dryRun(ctx, plan);
  const [{ hostRunner }, { buildEngineDeps }, { startMigration }, { mapConcurrent }] = await Promise.all([
    import("../../migrate/exec.js"), import("../../migrate/deps.js"), import("../../migrate/engine.js"), import("../../lib/concurrency.js"),
  ]);
  // Storage and DNS settings are checked before anyone is asked anything.
  const sink: { view?: Progress } = {};
  const deps = await buildEngineDeps(ctx, await hostRunner(ctx), (e) => sink.view?.emit(e));
  if (!ctx.globals.yes) {
    const names = plan.users.map((u) => u.user);
    const shown = names.length > 5 ? `${names.slice(0, 5).join(", ")} and ${names.length - 5} more` : names.join(", ");
    const ok = await ctx.prompt.confirm({ message: `Migrate ${shown} from ${plan.from.title} to ${plan.to.title}? Each agent stops briefly during the final copy.`, flag: "--yes", default: false });
    if (!ok) {
      await deps.close();
      throw new CancelledError("migration cancelled; nothing was changed");
    }
  }
  const board = progress();
  sink.view = board;
  const unwatch = watchStateWaits(ctx, deps.state, opts.ndjson);
  try {
    return await mapConcurrent(plan.users, opts.concurrency, async (p): Promise<MigrateOutcome> => {
      let outcome: MigrateOutcome;
      try {
        outcome = await startMigration(deps, p.user, p.params);
      } catch (error) {
        // Refused before it began (locked, an unfinished migration): nothing was changed.
        outcome = { user: p.user, op: "", result: "failed", from: p.params.from, to: p.params.to, step: null, downtimeMs: null, bytes: null, target: null, dns: null, error: errorJson(error) };
        rememberFailure(outcome, error);
      }
      board.finish(outcome);
      return outcome;
    });
  } finally {
    unwatch();
    board.close();
    await deps.close();
  }
}

/** `migrate resume` / `migrate rollback` of one operation. */
export async function runMigrateOp(ctx: Context, action: "resume" | "rollback", opId: string, progress: () => Progress, ndjson: boolean): Promise<MigrateOutcome> {
  if (!/^op_[a-z0-9]+$/.test(opId)) throw new UsageError(`"${opId}" is not an operation id (op_...)`, { hint: "automna migrate status lists them" });
  // Named before anything else is needed (storage, DNS): a mistyped id is the likeliest problem.
  const op = await (await ctx.state()).getOperation(opId);
  if (!op || op.kind !== "migrate") throw new NotFoundError(`no migration ${opId}`, { hint: "automna migrate status lists them" });
  const route = `${op.user} from ${String(op.params.from)} to ${String(op.params.to)}`;
  await confirmRisk(ctx.prompt, ctx.globals.yes, action === "resume"
    ? `Resume migration ${opId} of ${route}? It continues from step ${op.step ?? "lock"}; the agent stops briefly during the final copy.`
    : `Roll back migration ${opId} of ${route}? The target instance is destroyed and ${op.user} stays where it was.`, `migrate ${action} cancelled; nothing was changed`);
  const [{ hostRunner }, { buildEngineDeps }, engine] = await Promise.all([import("../../migrate/exec.js"), import("../../migrate/deps.js"), import("../../migrate/engine.js")]);
  const view = progress();
  const deps = await buildEngineDeps(ctx, await hostRunner(ctx), (e) => view.emit(e));
  const unwatch = watchStateWaits(ctx, deps.state, ndjson);
  try {
    const outcome = action === "resume" ? await engine.resumeMigration(deps, opId) : await engine.rollbackMigration(deps, opId);
    view.finish(outcome);
    return outcome;
  } finally {
    unwatch();
    view.close();
    await deps.close();
  }
}
