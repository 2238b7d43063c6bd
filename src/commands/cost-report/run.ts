import { existsSync } from "node:fs";
import type { Context } from "../../context.js";
import { UsageError } from "../../lib/errors.js";
import { parseInteger } from "../../lib/validate.js";
import { parseProviderList } from "../../pricing/catalog.js";
import { parseCurrency } from "../../pricing/money.js";
import { parsePeriod, type PeriodFlags } from "../../pricing/period.js";
import { buildReport, projectionMonth, type CostReport, type ShapeFlags } from "../../pricing/report.js";
import { GROUP_BY, type Currency, type GroupBy } from "../../pricing/types.js";
import type { UsageInterval } from "../../state/types.js";
import { catalogFor, ratesFor } from "../../pricing/sources.js";
import { parseNamedPrices, parsePriceList, positiveNumber } from "../../pricing/values.js";
import { checkLabelKey } from "../../lib/labels.js";

export interface CostReportOptions extends PeriodFlags {
  by?: GroupBy | undefined;
  compare?: boolean | undefined;
  shape?: ShapeFlags | undefined;
  planPrices?: number[] | undefined;
  /** `--plan-price pro=29,team=79` (with --by label:KEY): a price per label value. */
  planPriceByGroup?: Record<string, number> | undefined;
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
  // Grouping by a label: each user's labels as they are now (one read; none without a fleet).
  const labels = opts.by?.startsWith("label:") && intervals.length
    ? new Map((await (await ctx.state()).listLabels()).map((l) => [l.user, l.labels]))
    : undefined;
  return buildReport({
    labels, planPriceByGroup: opts.planPriceByGroup,
    intervals, open, catalog, period, now, rates, providers,
    currency: opts.currency ?? "USD",
    by: opts.by ?? "provider",
    compare: compare ? { shape: opts.shape } : undefined,
    planPrices: opts.planPrices ?? [],
  });
}

export interface Flags {
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
    if (flags.by.startsWith("label:")) by = `label:${checkLabelKey("--by label:KEY", flags.by.slice("label:".length))}`;
    else if (!(GROUP_BY as readonly string[]).includes(flags.by)) throw new UsageError(`--by must be one of ${GROUP_BY.join(", ")}, got "${flags.by}"`, { hint: "e.g. --by label:plan groups by each user's plan label" });
    else by = flags.by as GroupBy;
  }
  const named = flags.planPrice?.includes("=") === true;
  if (named && !by?.startsWith("label:")) {
    throw new UsageError("--plan-price NAME=PRICE prices the groups of --by label:KEY", { hint: "e.g. --by label:plan --plan-price pro=29,team=79; or plain prices: --plan-price 29,79" });
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
    planPrices: flags.planPrice === undefined || named ? undefined : parsePriceList("--plan-price", flags.planPrice),
    planPriceByGroup: named ? parseNamedPrices("--plan-price", flags.planPrice!) : undefined,
    currency: flags.currency === undefined ? undefined : parseCurrency("--currency", flags.currency),
    provider: flags.provider,
  };
}

