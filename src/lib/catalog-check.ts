import { PROVIDERS, providerCatalog, type ProviderInfo } from "../providers/catalog.js";
import { closest } from "./config-keys.js";
import { UsageError } from "./errors.js";

type Placement = "region" | "size";

/** The regions or sizes a provider's catalog lists. */
export async function namesOf(provider: ProviderInfo, kind: Placement): Promise<string[]> {
  const cat = await providerCatalog(provider.id);
  return kind === "region" ? cat.regions.map((r) => r.name) : cat.sizes.map((s) => s.name);
}

/**
 * Refuses a region or size the provider's catalog does not list (init, config set) at the time it
 * is given rather than at the first provision, naming the valid ones. Without a provider, any
 * provider's will do.
 */
export async function checkPlacement(provider: ProviderInfo | undefined, kind: Placement, value: string): Promise<void> {
  if (provider) {
    const names = await namesOf(provider, kind);
    if (names.includes(value)) return;
    const near = closest(value, names, 1);
    throw new UsageError(`${provider.title} has no ${kind} "${value}"${near.length ? ` (did you mean ${near[0]}?)` : ""}`, { hint: `${kind}s: ${names.join(", ")}` });
  }
  for (const p of PROVIDERS) if ((await namesOf(p, kind)).includes(value)) return;
  throw new UsageError(`no provider has a ${kind} "${value}"`, { hint: `set the provider first (automna config set provider hetzner), then automna pricing list shows its sizes` });
}
