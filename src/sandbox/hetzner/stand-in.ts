import type { SandboxEnv } from "../env.js";
import type { StandIn } from "../stand-in.js";
import { isoSeconds } from "../util.js";
import { vmStandInParts } from "../vm-stand-in.js";
import { hetznerApi } from "./index.js";

/** The Hetzner Cloud stand-in with its servers as simulated hosts (admin: `DELETE /hetzner/servers/{id}`). */
export function hetznerStandIn(env: SandboxEnv): StandIn {
  const api = hetznerApi(env);
  const w = env.world.hetzner;
  const { sshKeySummary, ...machines } = vmStandInParts(env, "hetzner", w.servers, w.sshKeys);
  return {
    ...api,
    ...machines,
    summary: () => ({
      servers: [...w.servers.values()].map((s) => ({ id: s.id, name: s.name, status: s.status, ip: s.ipv4, serverType: s.serverType, location: s.location, labels: s.labels, created: isoSeconds(s.created) })),
      sshKeys: sshKeySummary(),
    }),
    adminDelete: ([kind, id, ...rest]) => (kind === "servers" && id && !rest.length ? api.forceDelete(Number(id)) : undefined),
  };
}
