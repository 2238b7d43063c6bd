import type { SandboxEnv } from "../env.js";
import type { StandIn } from "../stand-in.js";
import { isoSeconds } from "../util.js";
import { vmStandInParts } from "../vm-stand-in.js";
import { digitaloceanApi } from "./index.js";

/** The DigitalOcean stand-in with its droplets as simulated hosts (admin: `DELETE /digitalocean/droplets/{id}`). */
export function digitaloceanStandIn(env: SandboxEnv): StandIn {
  const api = digitaloceanApi(env);
  const w = env.world.digitalocean;
  const { sshKeySummary, ...machines } = vmStandInParts(env, "digitalocean", w.droplets, w.sshKeys);
  return {
    ...api,
    ...machines,
    summary: () => ({
      droplets: [...w.droplets.values()].map((d) => ({ id: d.id, name: d.name, status: d.status, ip: d.ipv4, size: d.size, region: d.region, tags: d.tags, created: isoSeconds(d.created) })),
      sshKeys: sshKeySummary(),
      tags: [...w.tags],
    }),
    adminDelete: ([kind, id, ...rest]) => (kind === "droplets" && id && !rest.length ? api.forceDelete(Number(id)) : undefined),
  };
}
