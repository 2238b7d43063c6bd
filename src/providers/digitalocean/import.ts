import type { ImportCandidate, ProviderImport } from "../types.js";
import { vmImport } from "../vm/import.js";
import type { DDroplet, DigitalOceanClient } from "./client.js";
import { AUTOMNA_TAG, opTag, toInstance, userTag } from "./index.js";

function candidate(d: DDroplet): ImportCandidate {
  const tags = d.tags ?? [];
  const instance = toInstance(d);
  const marked = tags.includes(AUTOMNA_TAG) ? tags.find((t) => t.startsWith("automna-user-"))?.slice("automna-user-".length) ?? null : null;
  return { name: d.name, id: instance.resources.droplet!, instance, markedUser: marked, agentImage: null };
}

/** DigitalOcean droplets made outside automna: found by id or name, marked with automna's tags. */
export function digitalOceanImport(client: DigitalOceanClient): ProviderImport {
  return vmImport({
    what: "DigitalOcean droplet", listedBy: "doctl compute droplet list", candidate,
    get: (id) => client.droplet(id),
    all: () => client.listAll<DDroplet>("/v2/droplets", "droplets"),
    // Each tag is made (making one that exists is a no-op) and given to the droplet; its other tags stay.
    async mark(instance, user, opId) {
      const resources = [{ resource_id: instance.resources.droplet!, resource_type: "droplet" }];
      for (const tag of [AUTOMNA_TAG, userTag(user), opTag(opId)]) {
        await client.http.post("/v2/tags", { name: tag });
        await client.http.post(`/v2/tags/${encodeURIComponent(tag)}/resources`, { resources });
      }
    },
  });
}
