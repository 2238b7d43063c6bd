import type { Dispatcher } from "undici";
import type { Config } from "../lib/config.js";
import { closest } from "../lib/config-keys.js";
import { UsageError } from "../lib/errors.js";
import { rateScaleFromEnv } from "../lib/rate-budget.js";
import type { Instance, LeaseRef } from "../state/types.js";
import { normalizeEndpoint, recordedBinding, sameApi, wrongApi, type ApiBinding } from "./binding.js";
import { manifestOf, PROVIDERS, providerInfo, providerNames, type ProviderId, type ProviderInfo } from "./catalog.js";
import type { Provider } from "./types.js";

export interface RegistryOptions {
  env: NodeJS.ProcessEnv;
  debug?: ((message: string) => void) | undefined;
  signal?: AbortSignal | undefined;
  /** Unit tests of providers: an undici MockAgent. */
  dispatcher?: Dispatcher | undefined;
  pollMs?: number | undefined;
  backoffMs?: number | undefined;
  /**
   * An instance recorded before automna kept API bindings is about to be acted on: the context's
   * handler finds it at this endpoint and records the binding, after asking, or refuses.
   */
  onUnbound?: UnboundHandler | undefined;
}

/** See RegistryOptions.onUnbound. */
export type UnboundHandler = (row: Instance, provider: Provider, lease: LeaseRef | undefined) => Promise<void>;

export interface ForInstanceOptions {
  /** Only reads (status): an instance recorded before bindings existed is read as before, not bound. */
  read?: boolean;
  /** The user's lease when the caller holds it: a binding recorded now is written under it. */
  lease?: LeaseRef | undefined;
}

/**
 * Provider id or alias -> a Provider, built once per process with its base URL and token from the
 * Config. Commands hold the registry (ctx.providers()) and never name a provider in code.
 */
export class ProviderRegistry {
  readonly #config: Config;
  readonly #options: RegistryOptions;
  readonly #made = new Map<ProviderId, Promise<Provider>>();

  constructor(config: Config, options: RegistryOptions) {
    this.#config = config;
    this.#options = options;
  }

  /** Every provider automna knows. */
  all(): readonly ProviderInfo[] {
    return PROVIDERS;
  }

  /** Resolves an id or alias, or a UsageError (exit 2) listing the valid ones. */
  resolve(idOrAlias: string): ProviderInfo {
    const info = providerInfo(idOrAlias.toLowerCase());
    if (info) return info;
    const near = closest(idOrAlias, providerNames());
    throw new UsageError(`unknown provider "${idOrAlias}"`, { hint: `${near.length ? `did you mean ${near[0]}? ` : ""}valid providers: ${providerNames().join(", ")}` });
  }

  /** Providers with a token in the environment or config. */
  configured(): ProviderInfo[] {
    return PROVIDERS.filter((p) => this.#config.secret(p.tokenKey) !== undefined);
  }

  get(idOrAlias: string): Promise<Provider> {
    const info = this.resolve(idOrAlias);
    let made = this.#made.get(info.id);
    if (!made) {
      // Each provider's code loads only when a command first needs that provider.
      made = manifestOf(info.id).load().then((factory) => factory({
        info,
        config: this.#config,
        env: this.#options.env,
        debug: this.#options.debug,
        signal: this.#options.signal,
        rateScale: rateScaleFromEnv(this.#options.env),
        dispatcher: this.#options.dispatcher,
        pollMs: this.#options.pollMs ?? pollFromEnv(this.#options.env),
        backoffMs: this.#options.backoffMs,
      }));
      this.#made.set(info.id, made);
    }
    return made;
  }

  /**
   * The one way to a Provider for acting on an instance: refuses (exit 2, naming both) when the
   * instance was made through another API endpoint or account than this profile's (binding.ts),
   * before anything is sent. The endpoint is compared first, from config alone; the account
   * only when the endpoints agree and the instance names one.
   */
  async forInstance(row: Instance, options: ForInstanceOptions = {}): Promise<Provider> {
    const provider = await this.get(row.provider);
    const recorded = recordedBinding(row);
    if (!recorded) {
      if (!options.read) await this.#options.onUnbound?.(row, provider, options.lease);
      return provider;
    }
    const endpoint = this.endpointOf(row.provider);
    const here: ApiBinding = { endpoint, profile: this.#config.profile };
    if (normalizeEndpoint(recorded.endpoint) !== endpoint) throw wrongApi(row, provider.title, recorded, here);
    if (recorded.account !== undefined) {
      const current = await provider.api();
      if (!sameApi(recorded, current)) throw wrongApi(row, provider.title, recorded, current);
    }
    return provider;
  }

  /** The API endpoint this profile reaches a provider through (normalised; see binding.ts). */
  endpointOf(idOrAlias: string): string {
    return normalizeEndpoint(this.#config.getString(this.resolve(idOrAlias).urlKey) ?? "");
  }

  /** Closes every provider's connection pool. */
  async close(): Promise<void> {
    const made = [...this.#made.values()];
    this.#made.clear();
    await Promise.all(made.map(async (p) => (await p.catch(() => undefined))?.close()));
  }
}

/** AUTOMNA_POLL_MS: first poll interval for async actions (tests and time-scaled sandboxes). */
function pollFromEnv(env: NodeJS.ProcessEnv): number | undefined {
  const n = Number(env.AUTOMNA_POLL_MS);
  return env.AUTOMNA_POLL_MS && Number.isFinite(n) && n > 0 ? n : undefined;
}

export type { Provider } from "./types.js";
