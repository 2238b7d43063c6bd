import { UsageError } from "../lib/errors.js";
import type { Labels, UsageInterval } from "../state/types.js";
import { catalogProviders } from "./catalog.js";
import { compareProviders, fleetShape, margins, type CompareRow, type Margin, type ShapeGroup } from "./compare.js";
import { monthLabel, monthStart, nextMonthStart, HOUR_MS, type Period } from "./period.js";
import type { Catalog, Currency, GroupBy, Rates } from "./types.js";
import { summarizeViews, type CostByKind, type GroupCost, type SpendSummary, type View } from "./usage-cost.js";

/** `--users N --ram GB [--vcpu N]`: a fleet to price that need not exist yet. */
export interface ShapeFlags {
  users: number;
  ramGb: number;
  vcpu?: number | undefined;
}

export interface ReportInput {
  /** Usage intervals overlapping the period and the projected month. */
  intervals: UsageInterval[];
  /** Open intervals (the fleet now), needed for --compare. */
  open: UsageInterval[];
  catalog: Catalog;
  period: Period;
  now: number;
  currency: Currency;
  rates: Rates;
  by: GroupBy;
  /** Restricts spend, fleet and comparison to these catalog providers. */
  providers?: string[] | undefined;
  /** Present for --compare; `shape` when --users/--ram were given. */
  compare?: { shape?: ShapeFlags | undefined } | undefined;
  planPrices: number[];
  /** Users' labels, for `by: label:KEY`. */
  labels?: ReadonlyMap<string, Labels> | undefined;
  /** `--plan-price pro=29,team=79` with `--by label:plan`: each group's margin at its own plan's price. */
  planPriceByGroup?: Record<string, number> | undefined;
}

export interface SpendGroup extends GroupCost {
  /** Share of the period's total, percent. */
  share: number;
  /** The group's cost for the projected full month. */
  projectedMonthly: number;
  /** Projected monthly cost per user of the group. */
  projectedPerUser: number | null;
  margins?: { planPrice: number; margin: number | null }[];
  /** With prices per plan: this group's plan price, and the margin per user at it (null when unpriced). */
  planPrice?: number | null;
  margin?: number | null;
  marginPct?: number | null;
}

export interface ProjectedMonth extends CostByKind {
  month: string;
  users: number;
  averagePerUser: number | null;
}

export interface CompareSection {
  /** Where the need comes from: the running fleet or --users/--ram. */
  basis: "fleet" | "flags";
  users: number;
  shape: ShapeGroup[];
  /** The current fleet's monthly compute cost for these users; null with no fleet. */
  current: { monthly: number; perUser: number } | null;
  rows: (CompareRow & { margins?: Margin[] })[];
  unmet: { provider: string; reason: string }[];
  /** Sizes in the state the catalog does not know (left out). */
  unknownSizes: { provider: string; size: string; users: number }[];
}

export interface CostReport {
  currency: Currency;
  eurUsd: number;
  period: { from: string; to: string; label: string; hours: number };
  by: GroupBy;
  providers: string[] | null;
  spend: CostByKind & {
    users: number;
    intervals: number;
    averagePerUser: number | null;
    groups: SpendGroup[];
    /** Spend per provider whatever the grouping (for the chart). */
    providers: { provider: string; total: number; users: number }[];
  };
  projectedMonth: ProjectedMonth;
  /** Margin per user at each plan price, at the projected month's cost per user. */
  margins: Margin[];
  /** `--plan-price pro=29,...`: the price of each plan (label value) the groups' margins are at. */
  planPriceByGroup?: Record<string, number>;
  compare: CompareSection | null;
}

/** The month a projection is for: the one holding the report's last instant (never after now). */
export function projectionMonth(period: Period, now: number): Period {
  const from = monthStart(Math.min(period.to, now) - 1);
  return { from, to: nextMonthStart(from), label: monthLabel(from) };
}

/** Builds the whole report from data already read: pure, so tests and the benchmark call it directly. */
export function buildReport(input: ReportInput): CostReport {
  const { period, now, currency, rates, by } = input;
  const keep = input.providers ? new Set(input.providers) : undefined;
  const intervals = keep ? input.intervals.filter((iv) => keep.has(iv.provider)) : input.intervals;
  const opts = { by, currency, rates, labels: input.labels };

  const month = projectionMonth(period, now);
  // One pass: the period as it happened; the projection, where what is open keeps running to
  // the month's end at its recorded price; and spend per provider for the chart.
  const views: View[] = [
    { ...opts, period, openEnd: now, alsoBy: by === "provider" ? undefined : "provider" },
    { ...opts, period: month, openEnd: month.to },
  ];
  const [spend, projected] = summarizeViews(intervals, views) as [SpendSummary, SpendSummary];
  const projectedByKey = new Map(projected.groups.map((g) => [g.key, g]));
  const perUser = (total: number, users: number): number | null => (users > 0 ? total / users : null);

  const groups: SpendGroup[] = spend.groups.map((g) => {
    const p = projectedByKey.get(g.key);
    const projectedPerUser = p ? perUser(p.total, p.users) : null;
    const group: SpendGroup = { ...g, share: spend.total > 0 ? (g.total / spend.total) * 100 : 0, projectedMonthly: p?.total ?? 0, projectedPerUser };
    if (input.planPrices.length) group.margins = input.planPrices.map((planPrice) => ({ planPrice, margin: projectedPerUser === null ? null : planPrice - projectedPerUser }));
    if (input.planPriceByGroup) {
      const price = input.planPriceByGroup[g.key] ?? null;
      const margin = price === null || projectedPerUser === null ? null : price - projectedPerUser;
      Object.assign(group, { planPrice: price, margin, marginPct: margin === null ? null : (margin / price!) * 100 });
    }
    return group;
  });
  const { groups: _pg, ...projectedTotals } = projected;
  const projectedMonth: ProjectedMonth = {
    month: month.label, server: projectedTotals.server, volume: projectedTotals.volume, ipv4: projectedTotals.ipv4,
    total: projectedTotals.total, users: projectedTotals.users, averagePerUser: perUser(projected.total, projected.users),
  };

  const byProvider = spend.alsoGroups ?? spend.groups;
  const compare = input.compare ? buildCompare(input, keep) : null;
  const { groups: _g, alsoGroups: _a, serverHours: _h, ...spendTotals } = spend;
  return {
    currency,
    eurUsd: rates.eurUsd,
    period: { from: new Date(period.from).toISOString(), to: new Date(period.to).toISOString(), label: period.label, hours: (period.to - period.from) / HOUR_MS },
    by,
    providers: input.providers ?? null,
    spend: {
      ...spendTotals,
      averagePerUser: perUser(spend.total, spend.users),
      groups,
      providers: byProvider.map((g) => ({ provider: g.key, total: g.total, users: g.users })),
    },
    projectedMonth,
    margins: projectedMonth.averagePerUser === null ? [] : margins(input.planPrices, projectedMonth.averagePerUser),
    ...(input.planPriceByGroup ? { planPriceByGroup: input.planPriceByGroup } : {}),
    compare,
  };
}

function buildCompare(input: ReportInput, keep: Set<string> | undefined): CompareSection {
  const { catalog, currency, rates } = input;
  const open = keep ? input.open.filter((iv) => keep.has(iv.provider)) : input.open;
  const fleet = fleetShape(open, catalog, currency, rates);
  const flags = input.compare?.shape;
  let shape: ShapeGroup[];
  let current: CompareSection["current"] = null;
  if (flags) {
    shape = [{ need: { ramGb: flags.ramGb, vcpu: flags.vcpu }, users: flags.users }];
    // The fleet's cost per user, scaled to the users asked about.
    if (fleet.users > 0) current = { monthly: (fleet.currentMonthly / fleet.users) * flags.users, perUser: fleet.currentMonthly / fleet.users };
  } else {
    if (fleet.users === 0) {
      const why = fleet.unknown.length ? `the sizes in use (${fleet.unknown.map((u) => `${u.provider} ${u.size}`).join(", ")}) are not in the price catalog` : "no servers are running";
      throw new UsageError(`--compare has no fleet to price: ${why}`, { hint: "give the shape instead: --users 100 --ram 2 [--vcpu 1]" });
    }
    shape = fleet.groups;
    current = { monthly: fleet.currentMonthly, perUser: fleet.currentMonthly / fleet.users };
  }
  const providers = catalogProviders(catalog).filter((p) => !keep || keep.has(p));
  const result = compareProviders(catalog, providers, shape, currency, rates, current?.monthly ?? null);
  const rows = result.rows.map((row) => (input.planPrices.length ? { ...row, margins: margins(input.planPrices, row.perUser) } : row));
  return {
    basis: flags ? "flags" : "fleet",
    users: shape.reduce((n, g) => n + g.users, 0),
    shape,
    current,
    rows,
    unmet: result.unmet,
    unknownSizes: fleet.unknown,
  };
}
