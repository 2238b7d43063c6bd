import type { ImportCandidate, ProviderImport, ProviderInstance } from "../types.js";
import type { HetznerClient, HServer } from "./client.js";
import { toInstance } from "./index.js";

function candidate(s: HServer): ImportCandidate {
  const labels = s.labels ?? {};
  const instance = toInstance(s);
  return { name: s.name, id: instance.resources.server!, instance, markedUser: labels["automna.managed"] === "true" ? labels["automna.user"] ?? null : null, agentImage: null };
}

/** Hetzner servers made outside automna: found by id or name, marked with automna's labels. */
export class HetznerImport implements ProviderImport {
  readonly idLabel = "server id";
  // automna's cloud-init bind-mounts the host directory at /data in the agent's container.
  readonly dataLocations = ["/var/lib/automna/data", "/data"];
  readonly #client: HetznerClient;

  constructor(client: HetznerClient) {
    this.#client = client;
  }

  checkId(id: string): string | undefined {
    return /^[1-9][0-9]{0,18}$/.test(id) ? undefined : `a Hetzner server id is a number (hcloud server list shows it), got "${id}"`;
  }

  async lookup(id: string): Promise<ImportCandidate | undefined> {
    const server = await this.#client.server(id);
    return server && candidate(server);
  }

  listAll(): Promise<ImportCandidate[]> {
    return this.#client.listAll("/servers", "servers", {}, candidate);
  }

  /** Labels are replaced as a whole by the API: the server's own are sent back with automna's added. */
  async mark(instance: ProviderInstance, user: string, opId: string): Promise<void> {
    const id = instance.resources.server!;
    const current = await this.#client.server(id);
    const labels = { ...current?.labels, "automna.managed": "true", "automna.user": user, "automna.op": opId };
    await this.#client.http.request("PUT", `/servers/${encodeURIComponent(id)}`, { body: { labels } });
  }
}
