import type { ProviderInstance } from "../providers/types.js";
import type { Instance, LeaseRef } from "../state/types.js";
import { destroyUser, type DestroyDeps } from "./destroy-user.js";

/**
 * `doctor --fix` for an instance a failover marked lost: stopped at the provider if it runs
 * (its provider came back: a second agent for the user), then, when asked, destroyed as `destroy`
 * and `gc` destroy an instance (destroyUser: its endpoint checked, usage closed, its host key
 * forgotten, DNS records nothing is behind removed). Returns what was done.
 */
export async function fixLost(deps: DestroyDeps, lease: LeaseRef, row: Instance, live: ProviderInstance, destroy: boolean): Promise<string> {
  const done: string[] = [];
  if (live.status === "running" || live.status === "starting") {
    const provider = await deps.registry.forInstance(row, { lease });
    await provider.stop({ resources: live.resources });
    await provider.wait({ resources: live.resources }, "stopped");
    await deps.state.appendAudit({ who: deps.who, action: "doctor.stop-lost", target: row.user, details: { provider: row.provider, resources: live.resources } });
    done.push("stopped");
  }
  if (destroy) {
    const gone = await destroyUser(deps, row.user, lease, (r) => r.id === row.id);
    done.push(`destroyed (${gone.removed.join(", ") || "already gone"})`);
  }
  return done.join(", then ") || "nothing to do";
}
