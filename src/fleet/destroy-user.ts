import { AuthError, ProviderApiError, UsageError } from "../lib/errors.js";
import type { ProviderRegistry } from "../providers/index.js";
import type { Instance, LeaseRef, StateStore } from "../state/types.js";

export interface DestroyDeps {
  state: StateStore;
  registry: ProviderRegistry;
  who: string;
  now: () => Date;
  step: (t: string) => void;
  /** Forgets what automna pinned for a removed machine (its known_hosts entry). */
  forget: (row: Instance) => Promise<void>;
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
  if (rows.length === 0) return { user, result: "absent", provider: null, removed: [] };
  const removed: string[] = [];
  for (const row of rows) {
    const provider = await registry.get(row.provider);
    await state.updateInstance(row.id, { status: "deleting" }, { lease });
    try {
      let target = row.resources;
      if (Object.keys(target).length === 0 && row.opId) target = (await provider.findByMarker(row.opId))?.resources ?? {};
      step(`removing ${provider.title} resources`);
      removed.push(...(await provider.destroy({ resources: target, user })));
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
  return { user, result: "destroyed", provider: rows[0]!.provider, removed };
}
