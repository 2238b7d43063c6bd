import type { ImportCandidate, ProviderImport, ProviderInstance } from "../types.js";

/** What a VM provider's import needs: its numbered resources, read one by id or all, and how to mark one. */
export interface VmImportSource<T> {
  /** "Hetzner server", "DigitalOcean droplet". */
  what: string;
  /** The provider's own CLI command that lists them, named when an id is not a number. */
  listedBy: string;
  get(id: string): Promise<T | undefined>;
  all(): Promise<T[]>;
  candidate(resource: T): ImportCandidate;
  mark(instance: ProviderInstance, user: string, opId: string): Promise<void>;
}

/**
 * Importing VMs made outside automna (Hetzner servers, DigitalOcean droplets): numbered by the
 * provider, found by id or name, their data where automna's cloud-init puts it (the host
 * directory bind-mounted at /data in the agent's container).
 */
export function vmImport<T>(source: VmImportSource<T>): ProviderImport {
  const idLabel = `${source.what.split(" ").at(-1)} id`;
  return {
    idLabel,
    dataLocations: ["/var/lib/automna/data", "/data"],
    checkId: (id) => (/^[1-9][0-9]{0,18}$/.test(id) ? undefined : `a ${source.what} id is a number (${source.listedBy} shows it), got "${id}"`),
    lookup: async (id) => {
      const found = await source.get(id);
      return found === undefined ? undefined : source.candidate(found);
    },
    listAll: async () => (await source.all()).map((r) => source.candidate(r)),
    mark: (instance, user, opId) => source.mark(instance, user, opId),
  };
}
