import type { Catalog } from "../pricing/types.js";

import { MANIFESTS } from "./manifests.js";

/**
 * Static facts about each provider that commands need before any provider code loads, read from
 * the providers' manifests (src/providers/<id>/manifest.ts): ids and aliases, the config keys of
 * its token and URL, and sensible defaults for `init`. The Provider implementations hold
 * everything that talks to an API.
 */
export type ProviderId = (typeof MANIFESTS)[number]["id"];

export interface ProviderInfo {
  id: ProviderId;
  aliases: string[];
  title: string;
  tokenKey: string;
  tokenEnv: string;
  urlKey: string;
  defaultRegion: string;
  defaultSize: string;
}

export const PROVIDERS: readonly ProviderInfo[] = MANIFESTS.map((m) => ({
  id: m.id, aliases: [...m.aliases], title: m.title, tokenKey: m.token.key, tokenEnv: m.token.env, urlKey: m.url.key,
  defaultRegion: m.defaultRegion, defaultSize: m.defaultSize,
}));

/** A provider's manifest by id. */
export function manifestOf(id: ProviderId): (typeof MANIFESTS)[number] {
  return MANIFESTS.find((m) => m.id === id)!;
}

/** `hetzner, fly, digitalocean (do)`: the providers as help texts list them. */
export function providerChoices(): string {
  return MANIFESTS.map((m) => (m.aliases.length ? `${m.id} (${m.aliases.join(", ")})` : m.id)).join(", ");
}

/** Looks a provider up by id or alias. */
export function providerInfo(idOrAlias: string): ProviderInfo | undefined {
  return PROVIDERS.find((p) => p.id === idOrAlias || p.aliases.includes(idOrAlias));
}

export function providerNames(): string[] {
  return PROVIDERS.flatMap((p) => [p.id, ...p.aliases]);
}

/**
 * List prices per size, used when the provider's API publishes none (Fly) or for a `--dry-run`
 * without a token. Live prices from the API win wherever there are any. The figures come from the
 * one price catalog (data/price-catalog.json, shared with `pricing` and `cost-report`); this file
 * only adds the regions and which extras an automna instance actually pays for.
 */
export interface CatalogSize {
  name: string;
  vcpus: number;
  memoryMb: number;
  diskGb: number | null;
  hourly: number;
  monthly: number;
}

export interface ProviderCatalog {
  currency: string;
  regions: { name: string; description: string }[];
  sizes: CatalogSize[];
  /** A public IPv4 address per month, when billed separately. */
  ipv4Monthly?: number;
  /** Volume storage per GB per month, when the instance has a volume. */
  volumeGbMonthly?: number;
}

const built = new Map<ProviderId, ProviderCatalog>();
/** The shipped price catalog, read and validated once per process whichever providers ask. */
let shipped: Promise<Catalog> | undefined;

function shippedCatalog(): Promise<Catalog> {
  shipped ??= import("../pricing/catalog.js").then(({ loadCatalog }) => loadCatalog());
  shipped.catch(() => (shipped = undefined));
  return shipped;
}

/** One provider's sizes and list prices, read from the shipped price catalog on first use. */
export async function providerCatalog(id: ProviderId): Promise<ProviderCatalog> {
  const have = built.get(id);
  if (have) return have;
  const entries = (await shippedCatalog()).entries.filter((e) => e.provider === id);
  const first = entries[0];
  if (!first) throw new Error(`the price catalog has no ${id} plans`);
  const billed = manifestOf(id).billedExtras;
  const cat: ProviderCatalog = {
    currency: first.currency,
    regions: [...manifestOf(id).regions],
    sizes: entries.map((e) => ({
      name: e.plan, vcpus: e.vcpu, memoryMb: Math.round(e.ramGb * 1024), diskGb: e.diskGb || null, hourly: e.hourlyPrice, monthly: e.monthlyPrice,
    })),
    ...(billed.ipv4 && first.extras.ipv4Monthly ? { ipv4Monthly: first.extras.ipv4Monthly } : {}),
    ...(billed.volumeGb && first.extras.volumeGbMonthly ? { volumeGbMonthly: first.extras.volumeGbMonthly } : {}),
  };
  built.set(id, cat);
  return cat;
}
