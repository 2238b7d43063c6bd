import type { ProviderRegistry } from "../providers/index.js";
import type { StateStore } from "../state/types.js";
import { observeProviders, pairByUser, refreshPatch, rowsOf } from "./observe.js";

export interface RefreshSummary {
  providers: { provider: string; ok: boolean; error?: string; instances: number; elsewhere?: number }[];
  updated: number;
  missing: number;
  skippedLocked: number;
}

/**
 * Reads every provider (or one) and brings state up to date: status, addresses, region, size of
 * what it finds, `unknown` for rows it no longer has. A provider that cannot be read is reported
 * and left alone; so is a user under another operation's lease (theirs to update).
 */
export async function refreshState(deps: { registry: ProviderRegistry; state: StateStore }, provider?: string): Promise<RefreshSummary> {
  const { registry, state } = deps;
  const views = await observeProviders(registry, state, provider);
  const summary: RefreshSummary = {
    providers: views.map((v) => ({ provider: v.provider, ok: v.ok, ...(v.error ? { error: v.error } : {}), instances: v.instances.length })),
    updated: 0, missing: 0, skippedLocked: 0,
  };
  const leased = new Set((await state.listLeases()).map((l) => l.user));
  for (const view of views) {
    if (!view.ok) continue;
    const { here, elsewhere } = await rowsOf(state, view);
    if (elsewhere.length) summary.providers.find((p) => p.provider === view.provider)!.elsewhere = elsewhere.length;
    const { pairs, missing } = pairByUser(here, view.instances);
    for (const [row, live] of pairs) {
      const patch = refreshPatch(row, live);
      if (Object.keys(patch).length === 0) continue;
      if (leased.has(row.user)) {
        summary.skippedLocked++;
        continue;
      }
      await state.updateInstance(row.id, patch);
      summary.updated++;
    }
    for (const row of missing) {
      if (row.status === "provisioning" || leased.has(row.user)) continue;
      summary.missing++;
      if (row.status !== "unknown") await state.updateInstance(row.id, { status: "unknown", meta: { ...row.meta, providerStatus: "not found" } });
    }
  }
  return summary;
}
