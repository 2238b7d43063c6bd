/**
 * Static facts about each provider that commands need before any provider code loads: ids and
 * aliases, the config keys of its token and URL, and sensible defaults for `init`. The Provider
 * implementations (src/providers/<id>/) hold everything that talks to an API.
 */
export interface ProviderInfo {
  id: "hetzner" | "fly" | "digitalocean";
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
