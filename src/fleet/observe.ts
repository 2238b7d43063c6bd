import { AutomnaError } from "../lib/errors.js";
import { recordedBinding, sameApi, type ApiBinding } from "../providers/binding.js";
import type { ProviderId } from "../providers/catalog.js";
import type { ProviderRegistry } from "../providers/index.js";
import type { ProviderInstance } from "../providers/types.js";
import type { Instance, InstancePatch, StateStore } from "../state/types.js";

export interface ProviderView {
  provider: ProviderId;
  ok: boolean;
  /** Why it could not be read (no token, unreachable, 401...). */
  error?: string;
  instances: ProviderInstance[];
  /** The endpoint and account the view was read through (when it was read). */
  api?: ApiBinding;
}

/**
 * Reads every provider that has a token or holds instances in state, all at once. A provider
 * that cannot be read is reported, not fatal: the others still count.
 */
export async function observeProviders(registry: ProviderRegistry, state: StateStore, only?: string): Promise<ProviderView[]> {
  const used = new Set((await state.listInstances()).map((i) => i.provider));
  const wanted = only ? [registry.resolve(only)] : registry.all().filter((p) => used.has(p.id) || registry.configured().includes(p));
  return Promise.all(wanted.map(async (info): Promise<ProviderView> => {
    if (!registry.configured().includes(info)) return { provider: info.id, ok: false, error: `no token (set ${info.tokenEnv})`, instances: [] };
    try {
      const provider = await registry.get(info.id);
      const [instances, api] = await Promise.all([provider.list(), provider.api()]);
      return { provider: info.id, ok: true, instances, api };
    } catch (error) {
      if (error instanceof AutomnaError) return { provider: info.id, ok: false, error: error.message, instances: [] };
      throw error;
    }
  }));
}

/**
 * A view's rows: those made through the endpoint and account it was read through (or recorded
 * before automna kept bindings), and those made elsewhere, which this view cannot speak for (a
 * sandbox's instances are not "missing" from the real API).
 */
export async function rowsOf(state: StateStore, view: ProviderView): Promise<{ here: Instance[]; elsewhere: Instance[] }> {
  const rows = await state.listInstances({ provider: view.provider });
  const here: Instance[] = [];
  const elsewhere: Instance[] = [];
  for (const row of rows) {
    const recorded = recordedBinding(row);
    (!recorded || !view.api || sameApi(recorded, view.api) ? here : elsewhere).push(row);
  }
  return { here, elsewhere };
}

/** What state should learn from the provider's view of an instance (empty when nothing changed). */
export function refreshPatch(row: Instance, live: ProviderInstance): InstancePatch {
  const patch: InstancePatch = {};
  if (live.status !== row.status) patch.status = live.status;
  if (live.region && live.region !== row.region) patch.region = live.region;
  if (live.size && live.size !== row.size) patch.size = live.size;
  if (Object.keys(live.addresses).length && !sameMap(live.addresses, row.addresses)) patch.addresses = live.addresses;
  // A provider's list may show fewer ids than state holds (Fly's org-wide list has no volume):
  // only ids it adds or changes count.
  const resources = { ...row.resources, ...live.resources };
  if (Object.entries(resources).some(([k, v]) => row.resources[k] !== v)) patch.resources = resources;
  if (Object.keys(patch).length) patch.meta = { ...row.meta, providerStatus: live.providerStatus };
  return patch;
}

function sameMap(a: Record<string, string>, b: Record<string, string>): boolean {
  const keys = Object.keys(a);
  return keys.length === Object.keys(b).length && keys.every((k) => a[k] === b[k]);
}

/** Pairs state rows with provider instances of the same provider and user. */
export function pairByUser(rows: Instance[], live: ProviderInstance[]): { pairs: [Instance, ProviderInstance][]; missing: Instance[]; orphans: ProviderInstance[] } {
  const byUser = new Map<string, ProviderInstance[]>();
  for (const i of live) byUser.set(i.user, [...(byUser.get(i.user) ?? []), i]);
  const pairs: [Instance, ProviderInstance][] = [];
  const missing: Instance[] = [];
  for (const row of rows) {
    const candidates = byUser.get(row.user) ?? [];
    // Same resource ids first; else the only one the user has.
    const overlap = (c: ProviderInstance): boolean => Object.entries(c.resources).some(([k, v]) => row.resources[k] === v);
    const match = candidates.find(overlap) ?? (candidates.length === 1 && Object.keys(row.resources).length === 0 ? candidates[0] : undefined);
    if (match) {
      pairs.push([row, match]);
      byUser.set(row.user, candidates.filter((c) => c !== match));
    } else missing.push(row);
  }
  return { pairs, missing, orphans: [...byUser.values()].flat() };
}
