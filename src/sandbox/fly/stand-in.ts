import type { SandboxEnv } from "../env.js";
import type { StandIn } from "../stand-in.js";
import { isoSeconds } from "../util.js";
import { flyApi } from "./index.js";
import { flyLog } from "./logs.js";

/**
 * The Fly stand-in with its machines as simulated hosts; what their agents print is what the
 * logs API serves. Admin: `DELETE /fly/apps/{app}` and `DELETE /fly/apps/{app}/machines/{id}`.
 */
export function flyStandIn(env: SandboxEnv): StandIn {
  const api = flyApi(env);
  const w = env.world.fly;
  return {
    ...api,
    addressesInUse: () => [...w.machines.values()].filter((m) => m.state !== "destroyed").map((m) => m.privateIp),
    resumeHosts() {
      for (const m of w.machines.values()) if (m.agentUp) void env.hosts.set(env.hosts.host("fly", m.id, m.name, m.privateIp), true);
    },
    // No SSH login: Fly reaches its machines through its API. A machine whose config sets
    // `init.exec` runs that instead of the agent (how automna holds one).
    facts(id) {
      const m = w.machines.get(id);
      if (!m) return undefined;
      const init = m.config.init as { exec?: unknown } | undefined;
      return { authorizedKeys: [], userData: null, held: Array.isArray(init?.exec) && init.exec.length > 0 };
    },
    onLog(id, entry) {
      const m = w.machines.get(id);
      if (m) flyLog(env, m.app, m.id, m.region, entry.line, "info", entry.time);
    },
    summary: () => ({
      apps: [...w.apps.values()].map((a) => ({ name: a.name, org: a.org, created: isoSeconds(a.created), secrets: [...w.secrets.values()].filter((s) => s.app === a.name).map((s) => s.name) })),
      machines: [...w.machines.values()].map((m) => ({ id: m.id, app: m.app, name: m.name, state: m.state, region: m.region, ip: m.privateIp, metadata: m.config.metadata ?? {}, created: isoSeconds(m.created) })),
      volumes: [...w.volumes.values()].map((v) => ({ id: v.id, app: v.app, name: v.name, region: v.region, sizeGb: v.sizeGb, attachedMachineId: v.attachedMachineId })),
    }),
    adminDelete([kind, app, sub, id, ...rest]) {
      if (kind !== "apps" || !app || rest.length) return undefined;
      if (sub === undefined) return api.forceDeleteApp(app);
      return sub === "machines" && id ? api.forceDeleteMachine(app, id) : undefined;
    },
  };
}
