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
 * without a token. Live prices from the API win wherever there are any. Hourly is the
 * provider's hourly rate; monthly is its monthly price (the cap for hourly-billed VMs).
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

const HOURS_PER_MONTH = 730;
const monthlyOnly = (name: string, vcpus: number, memoryMb: number, monthly: number): CatalogSize => ({
  name, vcpus, memoryMb, diskGb: null, monthly, hourly: Math.round((monthly / HOURS_PER_MONTH) * 1e6) / 1e6,
});

export const CATALOG: Record<ProviderId, ProviderCatalog> = {
  hetzner: {
    currency: "EUR",
    regions: [
      { name: "fsn1", description: "Falkenstein, DE" }, { name: "nbg1", description: "Nuremberg, DE" },
      { name: "hel1", description: "Helsinki, FI" }, { name: "ash", description: "Ashburn, VA, US" },
      { name: "hil", description: "Hillsboro, OR, US" }, { name: "sin", description: "Singapore, SG" },
    ],
    sizes: [
      { name: "cx22", vcpus: 2, memoryMb: 4096, diskGb: 40, hourly: 0.006, monthly: 3.79 },
      { name: "cx32", vcpus: 4, memoryMb: 8192, diskGb: 80, hourly: 0.0109, monthly: 6.8 },
      { name: "cx42", vcpus: 8, memoryMb: 16384, diskGb: 160, hourly: 0.0263, monthly: 16.4 },
      { name: "cpx11", vcpus: 2, memoryMb: 2048, diskGb: 40, hourly: 0.007, monthly: 4.35 },
      { name: "cpx21", vcpus: 3, memoryMb: 4096, diskGb: 80, hourly: 0.0121, monthly: 7.55 },
      { name: "cax11", vcpus: 2, memoryMb: 4096, diskGb: 40, hourly: 0.006, monthly: 3.79 },
    ],
    ipv4Monthly: 0.5,
  },
  fly: {
    currency: "USD",
    regions: [
      { name: "ams", description: "Amsterdam, NL" }, { name: "fra", description: "Frankfurt, DE" },
      { name: "lhr", description: "London, UK" }, { name: "cdg", description: "Paris, FR" },
      { name: "iad", description: "Ashburn, VA, US" }, { name: "ord", description: "Chicago, IL, US" },
      { name: "sjc", description: "San Jose, CA, US" }, { name: "sin", description: "Singapore, SG" },
      { name: "nrt", description: "Tokyo, JP" }, { name: "syd", description: "Sydney, AU" },
    ],
    // Fly sizes are a CPU preset plus memory; the name encodes both (shared-cpu-1x-2gb).
    sizes: [
      monthlyOnly("shared-cpu-1x-256mb", 1, 256, 1.94),
      monthlyOnly("shared-cpu-1x-512mb", 1, 512, 3.19),
      monthlyOnly("shared-cpu-1x-1gb", 1, 1024, 5.7),
      monthlyOnly("shared-cpu-1x-2gb", 1, 2048, 10.7),
      monthlyOnly("shared-cpu-2x-2gb", 2, 2048, 11.39),
      monthlyOnly("shared-cpu-2x-4gb", 2, 4096, 21.4),
      monthlyOnly("performance-1x-2gb", 1, 2048, 31),
    ],
    volumeGbMonthly: 0.15,
  },
  digitalocean: {
    currency: "USD",
    regions: [
      { name: "nyc1", description: "New York 1" }, { name: "nyc3", description: "New York 3" },
      { name: "sfo3", description: "San Francisco 3" }, { name: "tor1", description: "Toronto 1" },
      { name: "ams3", description: "Amsterdam 3" }, { name: "fra1", description: "Frankfurt 1" },
      { name: "lon1", description: "London 1" }, { name: "sgp1", description: "Singapore 1" },
      { name: "blr1", description: "Bangalore 1" }, { name: "syd1", description: "Sydney 1" },
    ],
    sizes: [
      { name: "s-1vcpu-1gb", vcpus: 1, memoryMb: 1024, diskGb: 25, hourly: 0.00893, monthly: 6 },
      { name: "s-1vcpu-2gb", vcpus: 1, memoryMb: 2048, diskGb: 50, hourly: 0.01786, monthly: 12 },
      { name: "s-2vcpu-2gb", vcpus: 2, memoryMb: 2048, diskGb: 60, hourly: 0.02679, monthly: 18 },
      { name: "s-2vcpu-4gb", vcpus: 2, memoryMb: 4096, diskGb: 80, hourly: 0.03571, monthly: 24 },
      { name: "s-4vcpu-8gb", vcpus: 4, memoryMb: 8192, diskGb: 160, hourly: 0.07143, monthly: 48 },
    ],
  },
};
