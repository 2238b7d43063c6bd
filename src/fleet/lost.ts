import type { ProviderRegistry } from "../providers/index.js";
import type { ProviderInstance } from "../providers/types.js";
import type { Instance, LeaseRef, StateStore } from "../state/types.js";

export interface LostDeps {
  state: StateStore;
  registry: ProviderRegistry;
  who: string;
  lease: LeaseRef;
}

/**
 * `doctor --fix` for an instance a failover marked lost: stopped at the provider if it runs
 * (its provider came back: a second agent for the user), then destroyed and dropped from state
 * when asked. Returns what was done.
 */
export async function fixLost(deps: LostDeps, row: Instance, live: ProviderInstance, destroy: boolean): Promise<string> {
  const provider = await deps.registry.get(row.provider);
  const done: string[] = [];
  if (live.status === "running" || live.status === "starting") {
    await provider.stop({ resources: live.resources });
    await provider.wait({ resources: live.resources }, "stopped");
    await deps.state.appendAudit({ who: deps.who, action: "doctor.stop-lost", target: row.user, details: { provider: row.provider, resources: live.resources } });
    done.push("stopped");
  }
  if (destroy) {
    const removed = await provider.destroy({ resources: live.resources, user: row.user });
    await deps.state.deleteInstance(row.id, { lease: deps.lease });
    await deps.state.appendAudit({ who: deps.who, action: "doctor.destroy-lost", target: row.user, details: { provider: row.provider, removed } });
    done.push(`destroyed (${removed.join(", ") || "already gone"})`);
  }
  return done.join(", then ") || "nothing to do";
}
