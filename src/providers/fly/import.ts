import { AutomnaError } from "../../lib/errors.js";
import type { ImportCandidate, ProviderImport, ProviderInstance } from "../types.js";
import type { FlyClient, FMachine } from "./client.js";
import { toInstance } from "./index.js";

const APP_NAME = /^[a-z0-9][a-z0-9-]{0,62}$/;

/**
 * automna reads and moves an agent's data at /data: a machine whose volume is mounted elsewhere
 * would be migrated without it, so it is not taken over as it is.
 */
function checkMounts(app: string, m: FMachine): void {
  const paths = (m.config?.mounts ?? []).map((x) => x.path).filter((p): p is string => typeof p === "string");
  if (paths.length && !paths.includes("/data")) {
    throw new AutomnaError(`the Fly machine ${m.id} of ${app} mounts its volume at ${paths.join(", ")}, not at /data where automna reads an agent's data`, {
      code: "unsupported_layout", hint: "mount the volume at /data (fly machine update --volume), then import it",
    });
  }
}

function candidate(app: string, m: FMachine, id: string): ImportCandidate {
  const meta = m.config?.metadata ?? {};
  return { name: app, id, instance: toInstance(app, m), markedUser: meta.automna_managed === "true" ? meta.automna_user ?? null : null, agentImage: m.config?.image ?? null };
}

/**
 * Fly apps made outside automna (one app per user, as automna makes them): named by the app, or
 * `app/machine` when the app has several machines; marked with automna's machine metadata.
 */
export class FlyImport implements ProviderImport {
  readonly idLabel = "app name";
  /** The machine's volume is mounted at /data. */
  readonly dataLocations = ["/data"];
  readonly #client: FlyClient;
  readonly #org: string;

  constructor(client: FlyClient, org: string) {
    this.#client = client;
    this.#org = org;
  }

  checkId(id: string): string | undefined {
    const [app = "", machine, extra] = id.split("/");
    if (APP_NAME.test(app) && extra === undefined && (machine === undefined || /^[0-9a-z]{1,40}$/.test(machine))) return undefined;
    return `a Fly id is an app name, or app/machine-id when the app has several machines, got "${id}"`;
  }

  async lookup(id: string): Promise<ImportCandidate | undefined> {
    const [app, wanted] = id.split("/") as [string, string?];
    if (!(await this.#client.app(app))) return undefined;
    const machines = (await this.#client.machines(app)).filter((m) => m.state !== "destroyed" && m.state !== "destroying");
    const chosen = wanted ? machines.find((x) => x.id === wanted) : machines.length === 1 ? machines[0] : undefined;
    if (chosen) {
      checkMounts(app, chosen);
      return candidate(app, chosen, id);
    }
    if (wanted) return undefined;
    if (machines.length === 0) throw new AutomnaError(`the Fly app ${app} has no machine to import`, { code: "not_found", hint: "an agent's app runs one machine; import the app once it has one" });
    throw new AutomnaError(`the Fly app ${app} has ${machines.length} machines (${machines.map((m) => m.id).join(", ")})`, {
      code: "ambiguous", hint: `name the agent's machine as ${app}/<machine id>`,
    });
  }

  /** The org's apps with their machines (two paged lists); an app with several machines gives one candidate each. */
  async listAll(): Promise<ImportCandidate[]> {
    const [apps, machines] = await Promise.all([this.#client.apps(this.#org), this.#client.orgMachines(this.#org)]);
    const names = new Set(apps.map((a) => a.name));
    const byApp = new Map<string, FMachine[]>();
    for (const m of machines) {
      if (!names.has(m.app_name) || m.state === "destroyed" || m.state === "destroying") continue;
      byApp.set(m.app_name, [...(byApp.get(m.app_name) ?? []), m as FMachine]);
    }
    return [...byApp].flatMap(([app, list]) => list.map((m) => candidate(app, m, list.length === 1 ? app : `${app}/${m.id}`)));
  }

  async mark(instance: ProviderInstance, user: string, opId: string): Promise<void> {
    const { app, machine } = instance.resources;
    await this.#client.setMetadata(app!, machine!, { automna_managed: "true", automna_user: user, automna_op: opId });
  }
}
