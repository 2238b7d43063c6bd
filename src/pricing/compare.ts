import { MANIFESTS } from "../providers/manifests.js";
import type { UsageInterval } from "../state/types.js";
import { findPlan } from "./catalog.js";
import { convert } from "./money.js";
import type { Availability, Catalog, CatalogEntry, Currency, Rates } from "./types.js";

import { MONTH_HOURS } from "./period.js";

/** Providers whose servers automna gives a public IPv4 billed apart from the plan (Hetzner). */
const IPV4_BILLED = new Set<string>(MANIFESTS.filter((m) => m.billedExtras.ipv4).map((m) => m.id));

/**
 * A plan's monthly price as automna's instances are billed for it, in the report currency: the
 * plan, plus the public IPv4 where the provider bills it apart (a Hetzner CX22 is 3.79 + 0.50 EUR),
 * so --compare says what status and provision --dry-run say.
 */
export function planMonthly(e: CatalogEntry, currency: Currency, rates: Rates): number {
  const ipv4 = IPV4_BILLED.has(e.provider) ? (e.extras.ipv4Monthly ?? 0) : 0;
  return convert(e.monthlyPrice + ipv4, e.currency, currency, rates);
}

/** What one user's agent needs. */
export interface Need {
  ramGb: number;
  /** Minimum vCPUs; undefined means any. */
  vcpu?: number | undefined;
}

export function meets(entry: CatalogEntry, need: Need): boolean {
  return entry.ramGb >= need.ramGb - 1e-9 && (need.vcpu === undefined || entry.vcpu >= need.vcpu - 1e-9);
}

/**
 * The provider's cheapest plan (by always-on monthly price, in the report currency) with at least
 * the RAM and vCPUs asked for. Ties go to the smaller plan.
 */
export function cheapestPlan(entries: CatalogEntry[], provider: string, need: Need, currency: Currency, rates: Rates): CatalogEntry | undefined {
  let best: CatalogEntry | undefined;
  let bestPrice = Infinity;
  for (const e of entries) {
    if (e.provider !== provider || !meets(e, need)) continue;
    const price = planMonthly(e, currency, rates);
    if (price < bestPrice - 1e-9 || (Math.abs(price - bestPrice) <= 1e-9 && best && (e.ramGb < best.ramGb || e.vcpu < best.vcpu))) {
      best = e;
      bestPrice = price;
    }
  }
  return best;
}

/** A group of users that need the same size. */
export interface ShapeGroup {
  need: Need;
  users: number;
}

/** The fleet as a set of needs: where it runs now, translated to RAM and vCPUs. */
export interface FleetShape {
  users: number;
  groups: ShapeGroup[];
  /** Monthly compute cost of the fleet as it runs now (MONTH_HOURS, capped), report currency. */
  currentMonthly: number;
  /** Sizes the catalog does not know: their users are left out of the comparison. */
  unknown: { provider: string; size: string; users: number }[];
}

/**
 * The current fleet from its open server intervals, as memory needs. A user with two open servers (a migration
 * in flight) is counted once, at the server that started last: the one it is moving to.
 */
export function fleetShape(open: UsageInterval[], catalog: Catalog, currency: Currency, rates: Rates): FleetShape {
  const latest = new Map<string, UsageInterval>();
  // A server's public IPv4 is billed with it: counted in what the fleet costs now, as in the plans it is compared with.
  const ipv4 = new Map<string, number>();
  for (const iv of open) {
    if (iv.kind === "ipv4" && iv.end === null && iv.instanceId !== null) {
      ipv4.set(iv.instanceId, (ipv4.get(iv.instanceId) ?? 0) + convert(Math.min(iv.hourlyPrice * MONTH_HOURS, iv.monthlyPrice ?? Infinity) * iv.quantity, iv.currency, currency, rates));
    }
    if (iv.kind !== "server" || iv.end !== null) continue;
    const seen = latest.get(iv.user);
    if (!seen || iv.start > seen.start) latest.set(iv.user, iv);
  }
  const groups = new Map<string, ShapeGroup>();
  const unknown = new Map<string, { provider: string; size: string; users: number }>();
  let currentMonthly = 0;
  let users = 0;
  for (const iv of latest.values()) {
    const ramGb = findPlan(catalog, iv.provider, iv.size)?.ramGb;
    if (ramGb === undefined) {
      const key = `${iv.provider}/${iv.size}`;
      const u = unknown.get(key) ?? { provider: iv.provider, size: iv.size, users: 0 };
      u.users++;
      unknown.set(key, u);
      continue;
    }
    users++;
    const month = Math.min(iv.hourlyPrice * MONTH_HOURS, iv.monthlyPrice ?? Infinity) * iv.quantity;
    currentMonthly += convert(month, iv.currency, currency, rates) + (iv.instanceId === null ? 0 : (ipv4.get(iv.instanceId) ?? 0));
    // The need is the memory the agent has now. vCPUs are not carried over: providers bundle
    // them differently (a Hetzner cx22 has 2 shared vCPUs by default, not by need).
    const key = String(ramGb);
    const g = groups.get(key) ?? { need: { ramGb }, users: 0 };
    g.users++;
    groups.set(key, g);
  }
  return { users, groups: [...groups.values()].sort((a, b) => b.users - a.users || a.need.ramGb - b.need.ramGb), currentMonthly, unknown: [...unknown.values()] };
}

export interface PlanCount {
  plan: string;
  users: number;
}

export interface CompareRow {
  provider: string;
  /** The plan every user gets, or the plans of a mixed fleet (most users first). */
  plans: PlanCount[];
  vcpu: number;
  ramGb: number;
  cpuKind: CatalogEntry["cpuKind"];
  availability: Availability;
  alwaysOn: boolean;
  /** Average monthly cost per user, report currency. */
  perUser: number;
  /** Monthly cost for all users, report currency. */
  monthly: number;
  /** Current fleet's monthly cost minus this one (positive: cheaper here); null without a fleet. */
  saving: number | null;
  savingPct: number | null;
  /** Notes of the chosen plans (estimates, differences from the comparison). */
  notes: string[];
}

export interface Comparison {
  rows: CompareRow[];
  /** Providers with no plan big enough. */
  unmet: { provider: string; reason: string }[];
}

/** Prices the shape on every provider at its cheapest plan that meets each group's need. */
export function compareProviders(catalog: Catalog, providers: string[], shape: ShapeGroup[], currency: Currency, rates: Rates, current: number | null): Comparison {
  const rows: CompareRow[] = [];
  const unmet: Comparison["unmet"] = [];
  const users = shape.reduce((n, g) => n + g.users, 0);
  for (const provider of providers) {
    const picks: { entry: CatalogEntry; users: number }[] = [];
    let missing: ShapeGroup | undefined;
    for (const g of shape) {
      const entry = cheapestPlan(catalog.entries, provider, g.need, currency, rates);
      if (!entry) {
        missing = g;
        break;
      }
      const same = picks.find((p) => p.entry === entry);
      if (same) same.users += g.users;
      else picks.push({ entry, users: g.users });
    }
    if (missing || picks.length === 0) {
      const need = missing?.need;
      unmet.push({ provider, reason: need ? `no plan with ${need.ramGb} GB RAM${need.vcpu ? ` and ${need.vcpu} vCPU` : ""}` : "no users to price" });
      continue;
    }
    picks.sort((a, b) => b.users - a.users);
    const monthly = picks.reduce((sum, p) => sum + planMonthly(p.entry, currency, rates) * p.users, 0);
    const main = picks[0]!.entry;
    // A mixed fleet is as always-on as its least always-on plan.
    const sleepy = picks.find((p) => p.entry.availability !== "always-on")?.entry;
    const saving = current === null ? null : current - monthly;
    rows.push({
      provider,
      plans: picks.map((p) => ({ plan: p.entry.plan, users: p.users })),
      vcpu: main.vcpu,
      ramGb: main.ramGb,
      cpuKind: main.cpuKind,
      availability: (sleepy ?? main).availability,
      alwaysOn: !sleepy,
      perUser: users > 0 ? monthly / users : 0,
      monthly,
      saving,
      savingPct: saving === null || current === null || current === 0 ? null : (saving / current) * 100,
      notes: [...new Set(picks.map((p) => p.entry.note).filter((n): n is string => !!n))],
    });
  }
  rows.sort((a, b) => a.monthly - b.monthly || a.provider.localeCompare(b.provider));
  return { rows, unmet };
}

export interface Margin {
  planPrice: number;
  costPerUser: number;
  margin: number;
  /** Margin as a share of the plan price, percent. */
  marginPct: number;
}

/** What is left of each plan price after the monthly cost of one user. */
export function margins(planPrices: number[], costPerUser: number): Margin[] {
  return planPrices.map((planPrice) => ({
    planPrice,
    costPerUser,
    margin: planPrice - costPerUser,
    marginPct: ((planPrice - costPerUser) / planPrice) * 100,
  }));
}
