/**
 * The price catalog's types. A catalog entry is one plan of one provider, priced in the
 * provider's own currency; conversions happen only when a report asks for another currency.
 */

export const CURRENCIES = ["USD", "EUR"] as const;
export type Currency = (typeof CURRENCIES)[number];

/** How a provider charges for time. */
export const BILLING_MODELS = ["monthly-cap", "per-second", "per-request"] as const;
export type BillingModel = (typeof BILLING_MODELS)[number];

/** Whether an instance stays up on its own, or the platform puts it to sleep. */
/** What cost-report groups spend by. */
export const GROUP_BY = ["user", "provider", "region", "label:KEY"] as const;
/** `label:plan` groups by each user's current value of the label `plan`. */
export type GroupBy = "user" | "provider" | "region" | `label:${string}`;

export const AVAILABILITIES = ["always-on", "scales-to-zero", "hibernates"] as const;
export type Availability = (typeof AVAILABILITIES)[number];

export interface PriceExtras {
  /** A public IPv4 per month: null when not offered, 0 when included. */
  ipv4Monthly: number | null;
  /** A persistent volume per GB-month: null when the provider has none. */
  volumeGbMonthly: number | null;
  /** Outbound traffic per GB beyond the included traffic. */
  egressGb: number | null;
}

export interface CatalogEntry {
  /** Catalog provider id (`hetzner`, `fly`, `aws-fargate`, ...). */
  provider: string;
  /** The provider's own size name (what `--size` and the state store record). */
  plan: string;
  vcpu: number;
  cpuKind: "shared" | "dedicated";
  ramGb: number;
  diskGb: number;
  /** One always-on month as the provider lists it. */
  monthlyPrice: number;
  hourlyPrice: number;
  currency: Currency;
  billing: BillingModel;
  availability: Availability;
  /** Outbound traffic included per month, GB. */
  includedTrafficGb: number;
  extras: PriceExtras;
  /** Where the figures come from (URLs, the comparison). */
  source: string;
  /** When the figures were read (YYYY-MM-DD). */
  asOf: string;
  /** Says when a figure is an estimate or differs from the comparison. */
  note?: string;
  /** Set when the entry comes from `pricing refresh` rather than the shipped catalog. */
  live?: boolean;
}

export interface Catalog {
  asOf: string;
  entries: CatalogEntry[];
  /** Files the catalog was read from, for messages. */
  sources: string[];
}

/** Conversion rates a report uses. */
export interface Rates {
  /** USD per EUR. */
  eurUsd: number;
}
