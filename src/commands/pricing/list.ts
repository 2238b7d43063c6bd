import type { Context } from "../../context.js";
import { catalogProviders, parseProviderList } from "../../pricing/catalog.js";
import { convert } from "../../pricing/money.js";
import type { CatalogEntry, Currency } from "../../pricing/types.js";
import { catalogFor, ratesFor } from "../../pricing/sources.js";

export interface PricingListOptions {
  /** Comma-separated providers (aliases allowed). */
  provider?: string | undefined;
  minRam?: number | undefined;
  minVcpu?: number | undefined;
  /** Convert prices to this currency; default: each plan's own. */
  currency?: Currency | undefined;
}

/** A catalog entry as listed: prices possibly converted, with the currency it is listed in. */
export type ListedEntry = CatalogEntry & { listedCurrency: Currency };

export interface PricingListResult {
  asOf: string;
  sources: string[];
  entries: ListedEntry[];
}

export async function runPricingList(ctx: Context, opts: PricingListOptions): Promise<PricingListResult> {
  const catalog = catalogFor(ctx);
  const providers = opts.provider === undefined ? catalogProviders(catalog) : parseProviderList(catalog, opts.provider);
  const rates = opts.currency ? await ratesFor(ctx) : undefined;
  const order = new Map(providers.map((p, i) => [p, i]));
  const entries = catalog.entries
    .filter((e) => order.has(e.provider))
    .filter((e) => opts.minRam === undefined || e.ramGb >= opts.minRam)
    .filter((e) => opts.minVcpu === undefined || e.vcpu >= opts.minVcpu)
    .map((e): ListedEntry => {
      const to = opts.currency;
      if (!to || !rates || to === e.currency) return { ...e, listedCurrency: e.currency };
      const c = (v: number | null): number | null => (v === null ? null : convert(v, e.currency, to, rates));
      return {
        ...e,
        listedCurrency: e.currency,
        currency: to,
        monthlyPrice: convert(e.monthlyPrice, e.currency, to, rates),
        hourlyPrice: convert(e.hourlyPrice, e.currency, to, rates),
        extras: { ipv4Monthly: c(e.extras.ipv4Monthly), volumeGbMonthly: c(e.extras.volumeGbMonthly), egressGb: c(e.extras.egressGb) },
      };
    })
    .sort((a, b) => order.get(a.provider)! - order.get(b.provider)! || a.monthlyPrice - b.monthlyPrice);
  return { asOf: catalog.asOf, sources: catalog.sources, entries };
}
