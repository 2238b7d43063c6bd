import type { Catalog } from "../pricing/types.js";

/**
 * Static facts about each provider that commands need before any provider code loads: ids and
 * aliases, the config keys of its token and URL, and sensible defaults for `init`. The Provider
 * implementations (src/providers/<id>/) hold everything that talks to an API.
 */
export type ProviderId = "hetzner" | "fly" | "digitalocean";

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

export const PROVIDERS: readonly ProviderInfo[] = [
  { id: "hetzner", aliases: [], title: "Hetzner Cloud", tokenKey: "hetzner.token", tokenEnv: "HCLOUD_TOKEN", urlKey: "hetzner.url", defaultRegion: "fsn1", defaultSize: "cx22" },
  { id: "fly", aliases: [], title: "Fly.io", tokenKey: "fly.token", tokenEnv: "FLY_API_TOKEN", urlKey: "fly.url", defaultRegion: "ams", defaultSize: "shared-cpu-1x-2gb" },
  { id: "digitalocean", aliases: ["do"], title: "DigitalOcean", tokenKey: "digitalocean.token", tokenEnv: "DIGITALOCEAN_ACCESS_TOKEN", urlKey: "digitalocean.url", defaultRegion: "fra1", defaultSize: "s-1vcpu-2gb" },
];

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

const REGIONS: Record<ProviderId, ProviderCatalog["regions"]> = {
  hetzner: [
    { name: "fsn1", description: "Falkenstein, DE" }, { name: "nbg1", description: "Nuremberg, DE" },
    { name: "hel1", description: "Helsinki, FI" }, { name: "ash", description: "Ashburn, VA, US" },
    { name: "hil", description: "Hillsboro, OR, US" }, { name: "sin", description: "Singapore, SG" },
  ],
  fly: [
    { name: "ams", description: "Amsterdam, NL" }, { name: "fra", description: "Frankfurt, DE" },
    { name: "lhr", description: "London, UK" }, { name: "cdg", description: "Paris, FR" },
    { name: "iad", description: "Ashburn, VA, US" }, { name: "ord", description: "Chicago, IL, US" },
    { name: "sjc", description: "San Jose, CA, US" }, { name: "sin", description: "Singapore, SG" },
    { name: "nrt", description: "Tokyo, JP" }, { name: "syd", description: "Sydney, AU" },
  ],
  digitalocean: [
    { name: "nyc1", description: "New York 1" }, { name: "nyc3", description: "New York 3" },
    { name: "sfo3", description: "San Francisco 3" }, { name: "tor1", description: "Toronto 1" },
    { name: "ams3", description: "Amsterdam 3" }, { name: "fra1", description: "Frankfurt 1" },
    { name: "lon1", description: "London 1" }, { name: "sgp1", description: "Singapore 1" },
    { name: "blr1", description: "Bangalore 1" }, { name: "syd1", description: "Sydney 1" },
  ],
};

/**
 * The extras an instance pays for: a Hetzner server its primary IPv4, a Fly machine its volume
 * (Fly apps use the free shared IPv4; a droplet's IPv4 and disk are in its price).
 */
const BILLED_EXTRAS: Record<ProviderId, { ipv4: boolean; volume: boolean }> = {
  hetzner: { ipv4: true, volume: false },
  fly: { ipv4: false, volume: true },
  digitalocean: { ipv4: false, volume: false },
};

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
  const billed = BILLED_EXTRAS[id];
  const cat: ProviderCatalog = {
    currency: first.currency,
    regions: REGIONS[id],
    sizes: entries.map((e) => ({
      name: e.plan, vcpus: e.vcpu, memoryMb: Math.round(e.ramGb * 1024), diskGb: e.diskGb || null, hourly: e.hourlyPrice, monthly: e.monthlyPrice,
    })),
    ...(billed.ipv4 && first.extras.ipv4Monthly ? { ipv4Monthly: first.extras.ipv4Monthly } : {}),
    ...(billed.volume && first.extras.volumeGbMonthly ? { volumeGbMonthly: first.extras.volumeGbMonthly } : {}),
  };
  built.set(id, cat);
  return cat;
}
