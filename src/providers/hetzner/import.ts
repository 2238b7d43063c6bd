import type { ImportCandidate, ProviderImport } from "../types.js";
import { vmImport } from "../vm/import.js";
import type { HetznerClient, HServer } from "./client.js";
import { toInstance } from "./index.js";

function candidate(s: HServer): ImportCandidate {
  const labels = s.labels ?? {};
  const instance = toInstance(s);
  return { name: s.name, id: instance.resources.server!, instance, markedUser: labels["automna.managed"] === "true" ? labels["automna.user"] ?? null : null, agentImage: null };
}

/** Hetzner servers made outside automna: found by id or name, marked with automna's labels. */
export function hetznerImport(client: HetznerClient): ProviderImport {
  return vmImport({
    what: "Hetzner server", listedBy: "hcloud server list", candidate,
    get: (id) => client.server(id),
    all: () => client.listAll<HServer>("/servers", "servers"),
    // Labels are replaced as a whole by the API: the server's own are sent back with automna's added.
    async mark(instance, user, opId) {
      const id = instance.resources.server!;
      const current = await client.server(id);
      const labels = { ...current?.labels, "automna.managed": "true", "automna.user": user, "automna.op": opId };
      await client.http.request("PUT", `/servers/${encodeURIComponent(id)}`, { body: { labels } });
    },
  });
}
