import type { ImportCandidate, ProviderImport, ProviderInstance } from "../types.js";
import type { DDroplet, DigitalOceanClient } from "./client.js";
import { AUTOMNA_TAG, opTag, toInstance, userTag } from "./index.js";

function candidate(d: DDroplet): ImportCandidate {
  const tags = d.tags ?? [];
  const marked = tags.includes(AUTOMNA_TAG) ? tags.find((t) => t.startsWith("automna-user-"))?.slice("automna-user-".length) ?? null : null;
  const instance = toInstance(d);
  return { name: d.name, id: instance.resources.droplet!, instance, markedUser: marked, agentImage: null };
}

/** DigitalOcean droplets made outside automna: found by id or name, marked with automna's tags. */
export class DigitalOceanImport implements ProviderImport {
  readonly idLabel = "droplet id";
  // automna's cloud-init bind-mounts the host directory at /data in the agent's container.
  readonly dataLocations = ["/var/lib/automna/data", "/data"];
  readonly #client: DigitalOceanClient;

  constructor(client: DigitalOceanClient) {
    this.#client = client;
  }

  checkId(id: string): string | undefined {
    return /^[1-9][0-9]{0,18}$/.test(id) ? undefined : `a DigitalOcean droplet id is a number (doctl compute droplet list shows it), got "${id}"`;
  }

  async lookup(id: string): Promise<ImportCandidate | undefined> {
    const droplet = await this.#client.droplet(id);
    return droplet && candidate(droplet);
  }

  listAll(): Promise<ImportCandidate[]> {
    return this.#client.listAll("/v2/droplets", "droplets", {}, candidate);
  }

  /** Each tag is made (creating one that exists is a no-op) and then given to the droplet; its other tags stay. */
  async mark(instance: ProviderInstance, user: string, opId: string): Promise<void> {
    const resources = [{ resource_id: instance.resources.droplet!, resource_type: "droplet" }];
    for (const tag of [AUTOMNA_TAG, userTag(user), opTag(opId)]) {
      await this.#client.http.post("/v2/tags", { name: tag });
      await this.#client.http.post(`/v2/tags/${encodeURIComponent(tag)}/resources`, { resources });
    }
  }
}
