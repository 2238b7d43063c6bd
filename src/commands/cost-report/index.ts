import { existsSync } from "node:fs";
import type { Command } from "commander";
import type { Context } from "../../context.js";
import { action, examples, type CommandModule } from "../../lib/command.js";
import { UsageError } from "../../lib/errors.js";
import { addListFlags, listOptionsFrom, type OutputFormat } from "../../lib/output.js";

const REPORT_FORMATS: readonly OutputFormat[] = ["table", "json", "csv"];
import { parseInteger } from "../../lib/validate.js";
import { parseProviderList } from "../../pricing/catalog.js";
import { parseCurrency } from "../../pricing/money.js";
import { parsePeriod, type PeriodFlags } from "../../pricing/period.js";
import { buildReport, projectionMonth, type CostReport, type ShapeFlags } from "../../pricing/report.js";
import type { Currency } from "../../pricing/types.js";
import { GROUP_BY, type GroupBy } from "../../pricing/usage-cost.js";
import type { UsageInterval } from "../../state/types.js";
import { catalogFor, parsePriceList, positiveNumber, ratesFor } from "../pricing/shared.js";
import { renderCostReport } from "./render.js";

export interface CostReportOptions extends PeriodFlags {
  by?: GroupBy | undefined;
  compare?: boolean | undefined;
  shape?: ShapeFlags | undefined;
  planPrices?: number[] | undefined;
  currency?: Currency | undefined;
  /** Comma-separated providers to restrict the report to. */
  provider?: string | undefined;
}

/**
 * Reads the usage intervals the report needs. With no state database yet (a first run), there
 * is no fleet: nothing is created just to find that out.
 */
async function readUsage(ctx: Context, from: number, to: number, now: number, withOpen: boolean): Promise<{ intervals: UsageInterval[]; open: UsageInterval[] }> {
  const { resolveStateLocation } = await import("../../state/open.js");
  const where = resolveStateLocation(await ctx.config(), ctx.globals.state ?? ctx.env.AUTOMNA_STATE);
  if (where.kind === "sqlite" && where.location !== ":memory:" && !existsSync(where.location)) {
    ctx.io.verbose(`no state database at ${where.location}: no fleet, no usage`);
    return { intervals: [], open: [] };
  }
  const store = await ctx.state();
  const intervals = await store.listUsage({ from: new Date(from).toISOString(), to: new Date(to).toISOString() });
  if (!withOpen) return { intervals, open: [] };
  // What runs now is already in hand when the range reaches now: every open interval that
  // started by then overlaps it. Otherwise (a past period) ask for it.
  const open = to >= now ? intervals.filter((iv) => iv.end === null) : await store.listUsage({ openOnly: true });
  return { intervals, open };
}

export async function runCostReport(ctx: Context, opts: CostReportOptions): Promise<CostReport> {
  const now = ctx.clock.now().getTime();
  const period = parsePeriod(opts, now);
  const catalog = catalogFor(ctx);
  const rates = await ratesFor(ctx);
  const providers = opts.provider === undefined ? undefined : parseProviderList(catalog, opts.provider);
  const compare = opts.compare === true || opts.shape !== undefined;
  const month = projectionMonth(period, now);
  const { intervals, open } = await readUsage(ctx, Math.min(period.from, month.from), Math.max(period.to, month.to), now, compare);
  return buildReport({
    intervals, open, catalog, period, now, rates, providers,
    currency: opts.currency ?? "USD",
    by: opts.by ?? "provider",
    compare: compare ? { shape: opts.shape } : undefined,
    planPrices: opts.planPrices ?? [],
  });
}

interface Flags {
  period?: string;
  from?: string;
  to?: string;
  by?: string;
  compare?: boolean;
  users?: string;
  ram?: string;
  vcpu?: string;
  planPrice?: string;
  currency?: string;
  provider?: string;
  output?: string;
  columns?: string;
  header: boolean;
}

/** Turns flags into options; every bad value is a usage error (exit 2) naming its flag. */
export function parseCostReportFlags(flags: Flags): CostReportOptions {
  let by: GroupBy | undefined;
  if (flags.by !== undefined) {
    if (!(GROUP_BY as readonly string[]).includes(flags.by)) throw new UsageError(`--by must be one of ${GROUP_BY.join(", ")}, got "${flags.by}"`);
    by = flags.by as GroupBy;
  }
  let shape: ShapeFlags | undefined;
  if (flags.users !== undefined || flags.ram !== undefined || flags.vcpu !== undefined) {
    if (flags.users === undefined) throw new UsageError("--ram and --vcpu describe users: give --users N too");
    if (flags.ram === undefined) throw new UsageError("--users needs --ram GB (the memory each user's agent needs)");
    shape = {
      users: parseInteger("--users", flags.users, 1, 10_000_000),
      ramGb: positiveNumber("--ram", flags.ram),
      vcpu: flags.vcpu === undefined ? undefined : positiveNumber("--vcpu", flags.vcpu),
    };
  }
  return {
    period: flags.period, from: flags.from, to: flags.to, by, shape,
    compare: flags.compare === true || shape !== undefined,
    planPrices: flags.planPrice === undefined ? undefined : parsePriceList("--plan-price", flags.planPrice),
    currency: flags.currency === undefined ? undefined : parseCurrency("--currency", flags.currency),
    provider: flags.provider,
  };
}

export const costReportCommand: CommandModule = {
  name: "cost-report",
  group: "Cost",
  example: "automna cost-report --compare --users 100 --ram 2",
  register(program: Command, ctx: Context) {
    addListFlags(program
      .command("cost-report")
      .description("what the fleet costs per user and provider, what it would cost elsewhere, the margin per plan")
      .option("--period <window|month>", "30d, 12h, 2w or a month like 2026-11 (default: this month)")
      .option("--from <date>", "start of the period (2026-11-01 or an ISO time)")
      .option("--to <date>", "end of the period, exclusive (default: now)")
      .option("--by <key>", `group spend by ${GROUP_BY.join(", ")} (default: provider)`)
      .option("--compare", "price the fleet's shape on every provider at its cheapest fitting plan")
      .option("--users <n>", "compare for N users instead of the running fleet (with --ram)")
      .option("--ram <gb>", "memory each user's agent needs, GB (with --users)")
      .option("--vcpu <n>", "vCPUs each user's agent needs (with --users)")
      .option("--plan-price <list>", "plan prices in the report currency, comma-separated (e.g. 29,79): margin per user at each")
      .option("--currency <code>", "report in USD (default) or EUR; rate: config pricing.eurUsd")
      .option("--provider <list>", "only these providers, comma-separated"), "columns of the main table (table and csv)", REPORT_FORMATS)
      .addHelpText("after", examples(
        "automna cost-report --compare --users 100 --ram 2",
        "automna cost-report --period 2026-11 --by user -o csv",
        "automna cost-report --period 30d --plan-price 29,79",
        "automna cost-report --compare --currency EUR --json",
      ))
      .action(action(ctx, async (flags: Flags) => {
        const output = listOptionsFrom(flags, ctx.globals.json, REPORT_FORMATS);
        const opts = parseCostReportFlags(flags);
        const report = await runCostReport(ctx, opts);
        for (const u of report.compare?.unknownSizes ?? []) {
          ctx.io.warn(`${u.users} user${u.users === 1 ? "" : "s"} on ${u.provider} ${u.size}: size not in the price catalog, left out of --compare`);
        }
        renderCostReport(ctx.io, report, output);
      }));
  },
};
