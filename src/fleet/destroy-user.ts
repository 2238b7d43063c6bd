import { removeUserRecords, type DnsSetup } from "../dns/cleanup.js";
import { AuthError, ProviderApiError, UsageError } from "../lib/errors.js";
import type { Provider, ProviderRegistry } from "../providers/index.js";
import type { Instance, LeaseRef, StateStore } from "../state/types.js";

export interface DestroyDeps {
  state: StateStore;
  registry: ProviderRegistry;
  who: string;
  now: () => Date;
  step: (t: string) => void;
  /** Forgets what automna pinned for a removed machine (its known_hosts entry). */
  forget: (row: Instance) => Promise<void>;
  /** DNS when configured: the user's records no remaining instance is behind are removed too. */
  dns?: DnsSetup | null | undefined;
  /** `--delete-data`: also the data a provider keeps apart from the instance (a Cloudflare sandbox's R2 prefix). */
  deleteData?: boolean;
}

/** What destroying a user did: its instances' resources removed, or nothing there to remove. */
export interface DestroyedUser {
  user: string;
  result: "destroyed" | "absent";
  provider: string | null;
  removed: string[];
}

/** A migration's retired source, kept until its grace period ends, is not destroyed without `force`. */
export function assertNotProtected(user: string, rows: Instance[], force: boolean): void {
  const retired = rows.filter((r) => r.role === "retired");
  if (force || retired.length === 0) return;
  const r = retired[0]!;
  const until = typeof r.meta.retireUntil === "string" ? ` (kept until ${r.meta.retireUntil})` : "";
  throw new UsageError(`${user} has a retired source on ${r.provider}${until}, a migration's fallback; it is protected`, {
    hint: `pass --force to destroy it too, or let automna gc remove it after its grace period`,
  });
}

/**
 * Removes one user's provider resources (in the provider's order), closes usage, drops the rows,
 * under the user's lease (the caller holds it). `pick` chooses which instances (default: all of
 * the user's). Each row is marked `deleting` before anything is sent, so a crash leaves a row that
 * says what was under way; a create whose ids never reached state is found by its marker.
 */
export async function destroyUser(deps: DestroyDeps, user: string, lease: LeaseRef, pick: (row: Instance) => boolean = () => true): Promise<DestroyedUser> {
  const { state, registry, who, now, step } = deps;
  const rows = (await state.listInstances({ user })).filter(pick);
  // A destroy run again after a DNS failure (or after instances went another way) still cleans up.
  if (rows.length === 0) return { user, result: "absent", provider: null, removed: [...await staleRecords(deps, user), ...await staleLabels(deps, user)] };
  const removed: string[] = [];
  // Every row's endpoint checked before anything is removed (one made elsewhere refuses the lot).
  const providers = new Map<Instance, Provider>();
  for (const row of rows) providers.set(row, await registry.forInstance(row, { lease }));
  for (const row of rows) {
    const provider = providers.get(row)!;
    await state.updateInstance(row.id, { status: "deleting" }, { lease });
    try {
      let target = row.resources;
      if (Object.keys(target).length === 0 && row.opId) target = (await provider.findByMarker(row.opId))?.resources ?? {};
      step(`removing ${provider.title} resources`);
      removed.push(...(await provider.destroy({ resources: target, user }, { deleteData: deps.deleteData === true })));
    } catch (error) {
      // Refused before anything changed (API unreachable, token rejected): state as it was.
      const unsent = error instanceof ProviderApiError && error.status === 0 && error.providerCode === "unreachable";
      if (unsent || error instanceof AuthError) await state.updateInstance(row.id, { status: row.status }, { lease });
      throw error;
    }
    await state.closeUsage(row.id, now().toISOString(), { lease });
    await state.deleteInstance(row.id, { lease });
    // The machine is gone whatever happens to a stale known_hosts line: never fail the destroy on it.
    await deps.forget(row).catch(() => undefined);
    await state.appendAudit({ who, action: "destroy", target: user, details: { provider: row.provider, resources: row.resources, removed } });
  }
  removed.push(...await staleRecords(deps, user), ...await staleLabels(deps, user));
  return { user, result: "destroyed", provider: rows[0]!.provider, removed };
}

/**
 * A user with no instance left is gone: their labels go too (audited as labels.update), or a
 * later provision of the same id would inherit them and land in cohorts it never joined. Labels
 * stay while any instance remains (gc removing a retired source, a destroy of one row).
 */
async function staleLabels(deps: DestroyDeps, user: string): Promise<string[]> {
  if ((await deps.state.listInstances({ user })).length > 0) return [];
  const [row] = await deps.state.listLabels([user]);
  const keys = Object.keys(row?.labels ?? {});
  if (keys.length === 0) return [];
  await deps.state.updateLabels(user, { remove: keys });
  return keys.map((k) => `label ${k}=${row!.labels[k]}`);
}

/** The user's DNS records (automna's, by label) that no instance left in state routes to, removed. */
async function staleRecords(deps: DestroyDeps, user: string): Promise<string[]> {
  if (!deps.dns) return [];
  const records = await removeUserRecords(deps.dns, user, await deps.state.listInstances({ user }));
  if (records.length) await deps.state.appendAudit({ who: deps.who, action: "dns.remove", target: user, details: { records } });
  return records;
}
