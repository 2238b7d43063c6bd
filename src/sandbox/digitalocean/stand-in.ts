import type { SandboxEnv } from "../env.js";
import type { StandIn } from "../stand-in.js";
import { isoSeconds } from "../util.js";
import { digitaloceanApi } from "./index.js";

/** The DigitalOcean stand-in with its droplets as simulated hosts (admin: `DELETE /digitalocean/droplets/{id}`). */
export function digitaloceanStandIn(env: SandboxEnv): StandIn {
  const api = digitaloceanApi(env);
  const w = env.world.digitalocean;
  return {
    ...api,
    addressesInUse: () => [...w.droplets.values()].map((d) => d.ipv4),
    resumeHosts() {
      for (const d of w.droplets.values()) if (d.agentUp) void env.hosts.set(env.hosts.host("digitalocean", d.id, d.name, d.ipv4), true);
    },
    facts(id) {
      const d = w.droplets.get(Number(id));
      if (!d) return undefined;
      return { authorizedKeys: d.sshKeys.map((k) => w.sshKeys.get(k)?.publicKey).filter((k): k is string => !!k), userData: d.userData };
    },
    summary: () => ({
      droplets: [...w.droplets.values()].map((d) => ({ id: d.id, name: d.name, status: d.status, ip: d.ipv4, size: d.size, region: d.region, tags: d.tags, created: isoSeconds(d.created) })),
      sshKeys: [...w.sshKeys.values()].map((k) => ({ id: k.id, name: k.name, fingerprint: k.fingerprint })),
      tags: [...w.tags],
    }),
    adminDelete: ([kind, id, ...rest]) => (kind === "droplets" && id && !rest.length ? api.forceDelete(Number(id)) : undefined),
  };
}
