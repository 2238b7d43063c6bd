import type { UsageInterval, UsageKind } from "../state/types.js";
import { convert } from "./money.js";
import { HOUR_MS, monthStart, nextMonthStart, type Period } from "./period.js";
import type { Currency, Rates } from "./types.js";

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
  const start = Date.parse(iv.start);
  const lo = Math.max(start, from);
  const hi = Math.min(end, to);
  if (!(hi > lo)) return { hours: 0, cost: 0 };
  const hours = (hi - lo) / HOUR_MS;
  if (iv.monthlyPrice === null) return { hours, cost: hours * iv.hourlyPrice * iv.quantity };
  let cost = 0;
  for (let m = monthStart(lo); m < hi; ) {
    const next = nextMonthStart(m);
    const inMonth = (Math.min(end, next) - Math.max(start, m)) / HOUR_MS;
    const inPeriod = (Math.min(hi, next) - Math.max(lo, m)) / HOUR_MS;
    const charged = Math.min(inMonth * iv.hourlyPrice, iv.monthlyPrice);
    cost += (charged * inPeriod) / inMonth;
    m = next;
  }
  return { hours, cost: cost * iv.quantity };
}

export const GROUP_BY = ["user", "provider", "region"] as const;
export type GroupBy = (typeof GROUP_BY)[number];

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
}

export interface SummarizeOptions {
  by: GroupBy;
  currency: Currency;
  rates: Rates;
  /** Where an open interval stops being billed (now, or the projected month's end). */
  openEnd: number;
}

export function groupKey(iv: UsageInterval, by: GroupBy): string {
  return by === "user" ? iv.user : by === "provider" ? iv.provider : `${iv.provider}/${iv.region}`;
}

interface Acc extends GroupCost {
  userSet: Set<string>;
}

const zero = (key: string): Acc => ({ key, users: 0, intervals: 0, serverHours: 0, server: 0, volume: 0, ipv4: 0, total: 0, userSet: new Set() });

function add(acc: Acc, kind: UsageKind, cost: number, hours: number, user: string): void {
  acc[kind] += cost;
  acc.total += cost;
  acc.intervals++;
  if (kind === "server") acc.serverHours += hours;
  acc.userSet.add(user);
}

/**
 * Actual spend of intervals over a period, in one currency, grouped. Each interval counts once,
 * in its own group: a user migrated from Fly to Hetzner mid-period appears under both
 * providers, each with the hours it ran there, and once in the user total.
 */
export function summarize(intervals: UsageInterval[], period: Pick<Period, "from" | "to">, options: SummarizeOptions): SpendSummary {
  const all = zero("");
  const groups = new Map<string, Acc>();
  const rateCache = new Map<string, number>();
  for (const iv of intervals) {
    const end = iv.end === null ? options.openEnd : Date.parse(iv.end);
    const { hours, cost } = intervalCost(iv, period.from, period.to, end);
    if (hours === 0) continue;
    let r = rateCache.get(iv.currency);
    if (r === undefined) {
      r = convert(1, iv.currency, options.currency, options.rates);
      rateCache.set(iv.currency, r);
    }
    const key = groupKey(iv, options.by);
    let g = groups.get(key);
    if (!g) groups.set(key, (g = zero(key)));
    add(g, iv.kind, cost * r, hours, iv.user);
    add(all, iv.kind, cost * r, hours, iv.user);
  }
  const finish = ({ userSet, ...g }: Acc): GroupCost => ({ ...g, users: userSet.size });
  const list = [...groups.values()].map(finish).sort((a, b) => b.total - a.total || a.key.localeCompare(b.key));
  const { key: _key, ...totals } = finish(all);
  return { ...totals, groups: list };
}
