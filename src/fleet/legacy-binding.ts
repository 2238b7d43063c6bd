import { LockedError, ConflictError, UsageError } from "../lib/errors.js";
import { confirmRisk, type Prompter } from "../lib/prompt.js";
import type { ApiBinding } from "../providers/binding.js";
import type { Provider, ProviderInstance } from "../providers/types.js";
import type { Instance, LeaseRef, StateStore } from "../state/types.js";
import { pairByUser } from "./observe.js";

export interface LegacyBindingDeps {
  state: () => Promise<StateStore>;
  prompt: Prompter;
  /** `--yes` (read when the question would be asked: flags are parsed after the context is made). */
  yes: () => boolean;
}

/**
 * Instances recorded before automna kept API bindings get the binding of the profile that first
 * acts on them, once: after asking (once per provider per run; `--yes` in scripts), and only when
 * that endpoint has the instance (an automna-marked one of the same user and ids), so a sandbox's
 * ids in a database that every profile shared are never bound to, or sent to, a real API.
 * Returns the handler ProviderRegistry calls (RegistryOptions.onUnbound).
 */
export function legacyBinder(deps: LegacyBindingDeps): (row: Instance, provider: Provider, lease: LeaseRef | undefined) => Promise<void> {
  const seen = new Map<string, Promise<{ api: ApiBinding; live: ProviderInstance[] }>>();
  return async (row, provider, lease) => {
    let found = seen.get(provider.id);
    if (!found) {
      found = (async () => {
        const [state, api] = await Promise.all([deps.state(), provider.api()]);
        await confirmRisk(deps.prompt, deps.yes(),
          `${row.user}'s ${provider.title} instance was recorded in ${state.location} before automna kept each instance's API endpoint. Bind ${provider.title} instances found at ${api.endpoint} to it (profile ${api.profile ?? "default"}) as they are acted on?`,
          `nothing was changed; run it with the profile ${row.user}'s instance was made with`);
        return { api, live: await provider.list() };
      })();
      seen.set(provider.id, found);
      found.catch(() => seen.delete(provider.id));
    }
    const { api, live } = await found;
    const mine = live.filter((i) => i.user === row.user);
    const recorded = Object.keys(row.resources).length > 0;
    if (recorded && pairByUser([row], mine).pairs.length === 0) {
      const ids = Object.entries(row.resources).map(([k, v]) => `${k} ${v}`).join(", ");
      throw new UsageError(`${row.user}'s ${provider.title} instance (${ids}) was recorded before automna kept API endpoints, and ${api.endpoint} has no automna instance of ${row.user} with those ids: it was made through another endpoint (a sandbox?) or is gone`, {
        code: "wrong_endpoint",
        hint: `run it with the profile it was made with (automna --profile NAME ...); if it is gone, automna doctor --fix drops it from state. Nothing was changed`,
      });
    }
    const meta = { ...row.meta, api };
    try {
      await (await deps.state()).updateInstance(row.id, { meta }, lease ? { lease } : {});
      row.meta = meta;
    } catch (error) {
      // Held by another command (it records the binding when it acts) or changed meanwhile: found
      // here is enough to act on it now.
      if (!(error instanceof LockedError || error instanceof ConflictError)) throw error;
    }
  };
}
