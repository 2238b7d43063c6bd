import type { Labels, UsageInterval, UsageKind } from "../state/types.js";
import { convert } from "./money.js";
import { HOUR_MS, monthStart, nextMonthStart, parseIso, type Period } from "./period.js";
import type { Currency, GroupBy, Rates } from "./types.js";

export interface IntervalCost {
  /** Hours of the interval inside the period. */
  hours: number;
  /** Cost inside the period, in the interval's own currency. */
  cost: number;
}

/**
 * What one usage interval costs inside [from, to), at the unit price recorded on the interval
 * (never today's price, so a price change does not rewrite history).
 *
 * `end` is where the interval stops being billed: its recorded end, or for an open interval
 * "now" (actual spend) or the end of the month (projection).
 *
 * Without a monthly cap: quantity × hourly price × exact hours inside the period.
 * With one, each calendar month the interval touches is billed as the provider bills it —
 * min(hours in that month × hourly, cap) per unit — and the period takes its share of that
 * month's charge in proportion to the hours of the month that fall inside it. Reports over
 * adjacent periods therefore add up to exactly the provider's bill, with no month charged
 * above its cap.
 */
export function intervalCost(iv: UsageInterval, from: number, to: number, end: number): IntervalCost {
  const start = parseIso(iv.start);
  const hi = Math.min(end, to);
  const lo = Math.max(start, from);
  return hi > lo ? { hours: (hi - lo) / HOUR_MS, cost: costIn(iv, start, end, from, to) } : { hours: 0, cost: 0 };
}

/** intervalCost's arithmetic on pre-parsed times, allocation-free (it runs once per interval per view). */
function costIn(iv: UsageInterval, start: number, end: number, from: number, to: number): number {
  const lo = Math.max(start, from);
  const hi = Math.min(end, to);
  if (!(hi > lo)) return 0;
  if (iv.monthlyPrice === null) return ((hi - lo) / HOUR_MS) * iv.hourlyPrice * iv.quantity;
  let cost = 0;
  for (let m = monthStart(lo); m < hi; ) {
    const next = nextMonthStart(m);
    const inMonth = Math.min(end, next) - Math.max(start, m);
    const inPeriod = Math.min(hi, next) - Math.max(lo, m);
    const charged = Math.min((inMonth / HOUR_MS) * iv.hourlyPrice, iv.monthlyPrice);
    cost += (charged * inPeriod) / inMonth;
    m = next;
  }
  return cost * iv.quantity;
}


export interface CostByKind {
  server: number;
  volume: number;
  ipv4: number;
  total: number;
}

export interface GroupCost extends CostByKind {
  key: string;
  /** Distinct users with a billed hour in the period. */
  users: number;
  /** Intervals with a billed hour in the period. */
  intervals: number;
  /** Server hours in the period (a migrated user's source and target both count). */
  serverHours: number;
}

export interface SpendSummary extends CostByKind {
  users: number;
  intervals: number;
  serverHours: number;
  groups: GroupCost[];
  /** The same spend grouped by the view's `alsoBy`, when it has one. */
  alsoGroups?: GroupCost[];
}

export interface SummarizeOptions {
  by: GroupBy;
  currency: Currency;
  rates: Rates;
  /** Where an open interval stops being billed (now, or the projected month's end). */
  openEnd: number;
  /** Users' labels, for `label:KEY` groupings. */
  labels?: ReadonlyMap<string, Labels> | undefined;
}

/** One aggregation of a pass over the intervals. */
export interface View extends SummarizeOptions {
  period: Pick<Period, "from" | "to">;
  /** A second grouping of the same costs (computed once, added to both). */
  alsoBy?: GroupBy | undefined;
}

/** The group of users without the label a `label:KEY` grouping asks for. */
export const NO_LABEL = "(none)";

export function groupKey(iv: UsageInterval, by: GroupBy, labels?: ReadonlyMap<string, Labels>): string {
  if (by === "user") return iv.user;
  if (by === "provider") return iv.provider;
  if (by === "region") return `${iv.provider}/${iv.region}`;
  return labels?.get(iv.user)?.[by.slice("label:".length)] ?? NO_LABEL;
}

interface Acc extends GroupCost {
  /** Which users (by index) are counted; null when the group is one user. */
  seen: Uint8Array | null;
}

function zero(key: string, users: number | null): Acc {
  return { key, users: 0, intervals: 0, serverHours: 0, server: 0, volume: 0, ipv4: 0, total: 0, seen: users === null ? null : new Uint8Array(users) };
}

function add(acc: Acc, kind: UsageKind, cost: number, hours: number, uid: number): void {
  acc[kind] += cost;
  acc.total += cost;
  acc.intervals++;
  if (kind === "server") acc.serverHours += hours;
  if (acc.seen === null) acc.users = 1;
  else if (acc.seen[uid] === 0) {
    acc.seen[uid] = 1;
    acc.users++;
  }
}

/**
 * Spend of intervals over a period, in one currency, grouped. Each interval counts once, in its
 * own group: a user migrated from Fly to Hetzner mid-period appears under both providers, each
 * with the hours it ran there, and once in the user total.
 */
export function summarize(intervals: UsageInterval[], period: Pick<Period, "from" | "to">, options: SummarizeOptions): SpendSummary {
  return summarizeViews(intervals, [{ ...options, period }])[0]!;
}

/**
 * Several summaries in one pass (the report needs the period, the projected month and a
 * per-provider view): each interval's times are parsed once, whatever the number of views.
 */
export function summarizeViews(intervals: UsageInterval[], views: View[]): SpendSummary[] {
  // Users become small integers once, so counting distinct users is a byte per user, not a Set.
  const ids = new Map<string, number>();
  const uids = new Int32Array(intervals.length);
  intervals.forEach((iv, i) => {
    let id = ids.get(iv.user);
    if (id === undefined) ids.set(iv.user, (id = ids.size));
    uids[i] = id;
  });
  const userCount = ids.size;
  const state = views.map(() => ({ all: zero("", userCount), groups: new Map<string, Acc>(), also: new Map<string, Acc>(), rates: new Map<string, number>() }));
  const bucket = (map: Map<string, Acc>, key: string, by: GroupBy): Acc => {
    let g = map.get(key);
    if (!g) map.set(key, (g = zero(key, by === "user" ? null : userCount)));
    return g;
  };
  for (let i = 0; i < intervals.length; i++) {
    const iv = intervals[i]!;
    const uid = uids[i]!;
    const start = parseIso(iv.start);
    const closedEnd = iv.end === null ? null : parseIso(iv.end);
    for (let v = 0; v < views.length; v++) {
      const view = views[v]!;
      const end = closedEnd ?? view.openEnd;
      const lo = Math.max(start, view.period.from);
      const hi = Math.min(end, view.period.to);
      if (!(hi > lo)) continue;
      const { all, groups, also, rates } = state[v]!;
      let r = rates.get(iv.currency);
      if (r === undefined) rates.set(iv.currency, (r = convert(1, iv.currency, view.currency, view.rates)));
      const cost = costIn(iv, start, end, view.period.from, view.period.to) * r;
      const hours = (hi - lo) / HOUR_MS;
      add(bucket(groups, groupKey(iv, view.by, view.labels), view.by), iv.kind, cost, hours, uid);
      if (view.alsoBy) add(bucket(also, groupKey(iv, view.alsoBy, view.labels), view.alsoBy), iv.kind, cost, hours, uid);
      add(all, iv.kind, cost, hours, uid);
    }
  }
  const finish = ({ seen: _seen, ...g }: Acc): GroupCost => g;
  const sorted = (map: Map<string, Acc>): GroupCost[] => [...map.values()].map(finish).sort((a, b) => b.total - a.total || a.key.localeCompare(b.key));
  return state.map(({ all, groups, also }, v) => {
    const { key: _key, ...totals } = finish(all);
    return { ...totals, groups: sorted(groups), ...(views[v]!.alsoBy ? { alsoGroups: sorted(also) } : {}) };
  });
}
