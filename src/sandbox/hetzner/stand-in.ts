import type { SandboxEnv } from "../env.js";
import type { StandIn } from "../stand-in.js";
import { isoSeconds } from "../util.js";
import { hetznerApi } from "./index.js";

/** The Hetzner Cloud stand-in with its servers as simulated hosts (admin: `DELETE /hetzner/servers/{id}`). */
export function hetznerStandIn(env: SandboxEnv): StandIn {
  const api = hetznerApi(env);
  const w = env.world.hetzner;
  return {
    ...api,
    addressesInUse: () => [...w.servers.values()].map((s) => s.ipv4),
    resumeHosts() {
      for (const s of w.servers.values()) if (s.agentUp) void env.hosts.set(env.hosts.host("hetzner", s.id, s.name, s.ipv4), true);
    },
    facts(id) {
      const s = w.servers.get(Number(id));
      if (!s) return undefined;
      return { authorizedKeys: s.sshKeys.map((k) => w.sshKeys.get(k)?.publicKey).filter((k): k is string => !!k), userData: s.userData };
    },
    summary: () => ({
      servers: [...w.servers.values()].map((s) => ({ id: s.id, name: s.name, status: s.status, ip: s.ipv4, serverType: s.serverType, location: s.location, labels: s.labels, created: isoSeconds(s.created) })),
      sshKeys: [...w.sshKeys.values()].map((k) => ({ id: k.id, name: k.name, fingerprint: k.fingerprint })),
    }),
    adminDelete: ([kind, id, ...rest]) => (kind === "servers" && id && !rest.length ? api.forceDelete(Number(id)) : undefined),
  };
}
