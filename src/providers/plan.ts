import type { Config } from "../lib/config.js";
import { closest } from "../lib/config-keys.js";
import { UsageError } from "../lib/errors.js";
import { MONTH_HOURS } from "../pricing/period.js";
import { manifestOf, providerCatalog, type ProviderInfo } from "./catalog.js";
import type { ProviderRegistry } from "./index.js";
import type { BillingItem, Provider, RegionInfo, SizeInfo } from "./types.js";

/** Where new instances go: provider, region, size and agent image. */
export interface Placement {
  provider: ProviderInfo;
  region: string;
  size: string;
  image: string;
}

export interface PlacementFlags {
  provider?: string | undefined;
  region?: string | undefined;
  size?: string | undefined;
  image?: string | undefined;
}

/**
 * Flags > environment > config file > the provider's defaults. A region or size saved in the
 * config file belongs to the config's provider, so it is not carried over to another provider
 * chosen with --provider.
 */
export function resolvePlacement(config: Config, registry: ProviderRegistry, flags: PlacementFlags): Placement {
  const providerName = flags.provider ?? config.getString("provider");
  if (!providerName) {
    throw new UsageError("no provider given", { hint: `pass --provider (${registry.all().map((p) => p.id).join(", ")}) or run automna init` });
  }
  const provider = registry.resolve(providerName);
  const configProvider = config.getString("provider");
  const sameAsConfig = configProvider !== undefined && registry.resolve(configProvider).id === provider.id;
  const setting = (key: "region" | "size"): string | undefined => {
    const source = config.source(key);
    if (source === "env" || (source === "file" && sameAsConfig)) return config.getString(key);
    return undefined;
  };
  return {
    provider,
    region: flags.region ?? setting("region") ?? provider.defaultRegion,
    size: flags.size ?? setting("size") ?? provider.defaultSize,
    image: flags.image ?? config.getString("image") ?? "",
  };
}

/** Regions and sizes to validate against: live from the API with a token, else the catalog. */
export async function offerings(provider: Provider, live: boolean): Promise<{ regions: RegionInfo[]; sizes: SizeInfo[] }> {
  if (live) {
    const [regions, sizes] = await Promise.all([provider.regions(), provider.sizes()]);
    return { regions, sizes };
  }
  const cat = await providerCatalog(provider.id);
  return {
    regions: cat.regions.map((r) => ({ ...r, available: true })),
    sizes: cat.sizes.map((s) => ({
      name: s.name, vcpus: s.vcpus, memoryMb: s.memoryMb, diskGb: s.diskGb, regions: [], hourlyPrice: s.hourly, monthlyPrice: s.monthly,
      currency: cat.currency, source: "catalog" as const,
    })),
  };
}

/** Unknown region or size: a UsageError (exit 2) listing the valid values. */
export function validatePlacement(placement: Placement, offer: { regions: RegionInfo[]; sizes: SizeInfo[] }): SizeInfo {
  const title = placement.provider.title;
  const regions = offer.regions.filter((r) => r.available).map((r) => r.name);
  if (!regions.includes(placement.region)) {
    const near = closest(placement.region, regions);
    throw new UsageError(`unknown ${title} region "${placement.region}"`, { hint: `${near.length ? `did you mean ${near[0]}? ` : ""}valid regions: ${regions.join(", ")}` });
  }
  const size = offer.sizes.find((s) => s.name === placement.size);
  if (!size) {
    const names = offer.sizes.map((s) => s.name);
    const near = closest(placement.size, names);
    throw new UsageError(`unknown ${title} size "${placement.size}"`, { hint: `${near.length ? `did you mean ${near[0]}? ` : ""}valid sizes: ${names.join(", ")}` });
  }
  if (size.regions.length > 0 && !size.regions.includes(placement.region)) {
    throw new UsageError(`${title} size ${size.name} is not offered in ${placement.region}`, { hint: `regions for ${size.name}: ${size.regions.join(", ")}` });
  }
  if (!placement.image) throw new UsageError("no agent image given", { hint: "pass --image or set image (automna config set image REF)" });
  return size;
}

/** Monthly price of one instance from its billing items or open usage intervals (server + volume + address). */
export function monthlyTotal(items: Pick<BillingItem, "quantity" | "hourlyPrice" | "monthlyPrice">[]): number {
  return Math.round(items.reduce((sum, i) => sum + (i.monthlyPrice ?? i.hourlyPrice * MONTH_HOURS) * i.quantity, 0) * 100) / 100;
}

/** Billing items from the catalog alone (a dry run without a token); a volume sized as the provider's settings say. */
export async function catalogBilling(provider: ProviderInfo, size: string, config: Config): Promise<BillingItem[]> {
  const cat = await providerCatalog(provider.id);
  const volumeGb = manifestOf(provider.id).billedExtras.volumeGb?.(config) ?? 1;
  const row = cat.sizes.find((s) => s.name === size);
  const items: BillingItem[] = [];
  if (row) items.push({ kind: "server", quantity: 1, hourlyPrice: row.hourly, monthlyPrice: row.monthly, currency: cat.currency, source: "catalog" });
  if (cat.ipv4Monthly) items.push({ kind: "ipv4", quantity: 1, hourlyPrice: cat.ipv4Monthly / MONTH_HOURS, monthlyPrice: cat.ipv4Monthly, currency: cat.currency, source: "catalog" });
  if (cat.volumeGbMonthly) items.push({ kind: "volume", quantity: volumeGb, hourlyPrice: cat.volumeGbMonthly / MONTH_HOURS, monthlyPrice: cat.volumeGbMonthly, currency: cat.currency, source: "catalog" });
  return items;
}
