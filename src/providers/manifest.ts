import type { Config } from "../lib/config.js";
import type { ConfigKey } from "../lib/config-keys.js";
import type { SandboxEnv } from "../sandbox/env.js";
import type { StandIn } from "../sandbox/stand-in.js";
import type { ProviderDeps } from "./deps.js";
import type { Capability, Provider } from "./types.js";

/**
 * Everything automna knows about a provider before any of its code loads: one of these per
 * provider, in src/providers/<id>/manifest.ts, listed once in src/providers/manifests.ts. The
 * registry, the config keys, help texts, the sandbox's stand-ins, the fault spec's provider names
 * and the test fixtures are all derived from the list, so adding a provider is a folder plus one
 * line there. Manifests import nothing heavy: config-key lookups and `--help` read them.
 */
export interface ProviderManifest<Id extends string = string> {
  readonly id: Id;
  readonly aliases: readonly string[];
  readonly title: string;
  /** The API token's config key and environment variable. */
  readonly token: { readonly key: string; readonly env: string; readonly description: string };
  /** The API base URL's config key, its variable and the real endpoint. */
  readonly url: { readonly key: string; readonly env: string; readonly description: string; readonly default: string };
  /** The provider's other settings (Fly's organization, its volume size...). */
  readonly settings: readonly ConfigKey[];
  /** What `init` proposes and `provision` uses when nothing else is given. */
  readonly defaultRegion: string;
  readonly defaultSize: string;
  /** The catalog's regions (used without a token; live regions win with one). */
  readonly regions: readonly { readonly name: string; readonly description: string }[];
  /**
   * The extras an instance pays for beyond its size's price: a separately billed IPv4 address;
   * a volume, with the size (GB) automna gives each user's from the config.
   */
  readonly billedExtras: { readonly ipv4: boolean; readonly volumeGb?: (config: Config) => number };
  /**
   * How commands, logs and shells reach an instance: `ssh`, OpenSSH at its address with a host
   * key automna makes and pins (VMs); `api`, through the provider's own API (access().api).
   */
  readonly reach: "ssh" | "api";
  /** Things the provider cannot do, with the reason shown when a command needs one. */
  readonly capabilities: Readonly<Partial<Record<Capability, string>>>;
  /** The Provider implementation (loaded when a command first needs it). */
  load(): Promise<(deps: ProviderDeps) => Provider>;
  readonly sandbox: SandboxManifest;
  readonly fixture: FixtureShape;
}

/** The provider's stand-in in the sandbox (src/sandbox/<id>/). */
export interface SandboxManifest {
  load(): Promise<(env: SandboxEnv) => StandIn>;
  /**
   * Its fixed port's offset from `automna sandbox --port N`: hetzner N, digitalocean N+1, fly
   * N+2; admin, s3 and cloudflare hold N+3..N+5, so later providers take N+6 and up.
   */
  readonly portOffset: number;
  /** What follows the origin in the base URL (Hetzner's `/v1`); empty for most. */
  readonly urlPath: string;
  /** Further settings that point at the stand-in (Fly's logs API is on the same port). */
  readonly settings?: (url: string) => Record<string, string>;
}

/** What the tests need to drive a provider generically (test/helpers/fleet-sandbox.ts). */
export interface FixtureShape {
  /** A region and size the sandbox accepts. */
  readonly region: string;
  readonly size: string;
  /** The create request whose answer a fault can lose: fault path pattern and request-path regex. */
  readonly createFault: string;
  readonly createPath: RegExp;
  /** The request field a provider's 4xx for a bad size names. */
  readonly sizeField: string;
  /**
   * Whether its instances report an address automna checks health at (a Koyeb WORKER has none:
   * Koyeb checks its health and the deployment's state says so).
   */
  readonly addressed: boolean;
  /**
   * false: the generic fleet tests (provision, bulk, doctor) skip it, since automna does not
   * provision there by default (Cloudflare Sandbox: it sleeps); its own tests cover it.
   */
  readonly fleet?: false;
}

/** A user's /data volume in whole GB from a `<provider>.volumeGb` setting, at least 1. */
export function volumeGb(setting: number | undefined): number {
  return Math.max(1, Math.round(setting ?? 1));
}

/** Keeps a manifest's id a literal type, so the list of manifests yields the ProviderId union. */
export function defineManifest<const Id extends string>(manifest: ProviderManifest<Id>): ProviderManifest<Id> {
  return manifest;
}
