import { AutomnaError, ConflictError, ProviderApiError } from "../../lib/errors.js";
import { mayHaveCommitted } from "../../lib/http.js";
import { RateBudget } from "../../lib/rate-budget.js";
import type { InstanceStatus } from "../../state/types.js";
import { providerCatalog } from "../catalog.js";
import { apiBinding, makeHttp, price, type ProviderDeps } from "../deps.js";
import type {
  BillingItem, CredentialCheck, Provider, ProviderImport, ProviderInstance, ProvisionHooks, ProvisionResult, ProvisionSpec, RegionInfo, SizeInfo,
} from "../types.js";
import type { ApiBinding } from "../binding.js";
import { resourceName } from "../types.js";
import { renderUserData } from "../vm/cloud-init.js";
import { readPublicKey } from "../vm/ssh-key.js";
import { vmAccess } from "../vm/access.js";
import { waitForVm } from "../vm/wait.js";
import { hetzner } from "./manifest.js";
import { ActionWatcher, HetznerClient, parseHetznerError, type HServer, type HServerType } from "./client.js";
import { hetznerImport } from "./import.js";

/** Hetzner's documented budget: 3600 requests per hour per project, refilling one per second. */
export const HETZNER_BUDGET = { global: [{ capacity: 3600, perSecond: 1 }] };
/** The OS image of agent servers; the agent itself is the container image. */
const OS_IMAGE = "ubuntu-24.04";
const USER_DATA_MAX = 32 * 1024;
const MANAGED = "automna.managed=true";

const STATUS: Record<string, InstanceStatus> = {
  running: "running", initializing: "starting", starting: "starting", off: "stopped", stopping: "stopped",
  deleting: "deleting", migrating: "starting", rebuilding: "starting", unknown: "unknown",
};

export function toInstance(s: HServer): ProviderInstance {
  const addresses: Record<string, string> = {};
  // Defensive reads: a server still initializing may lack parts of its network or type.
  const labels = s.labels ?? {};
  if (s.public_net?.ipv4?.ip) addresses.ipv4 = s.public_net.ipv4.ip;
  if (s.public_net?.ipv6?.ip) addresses.ipv6 = s.public_net.ipv6.ip;
  return {
    provider: "hetzner",
    user: labels["automna.user"] ?? s.name.replace(/^automna-/, ""),
    opId: labels["automna.op"] ?? null,
    region: s.location?.name ?? s.datacenter?.location?.name ?? "",
    size: s.server_type?.name ?? "",
    image: s.image?.name ?? null,
    status: STATUS[s.status] ?? "unknown",
    providerStatus: s.status,
    resources: { server: String(s.id) },
    addresses,
    createdAt: s.created ?? null,
  };
}

class HetznerProvider implements Provider {
  readonly id = "hetzner" as const;
  readonly title = "Hetzner Cloud";
  readonly capabilities = hetzner.capabilities;
  readonly reach = hetzner.reach;
  readonly access = vmAccess;
  readonly #deps: ProviderDeps;
  readonly #client: HetznerClient;
  readonly #watcher: ActionWatcher;
  readonly importer: ProviderImport;
  #sshKey: Promise<number | undefined> | undefined;
  #types: Promise<HServerType[]> | undefined;
  #pricing: Promise<{ currency: string; ipv4: Map<string, { hourly: number; monthly: number }> }> | undefined;

  constructor(deps: ProviderDeps) {
    this.#deps = deps;
    this.#client = new HetznerClient(makeHttp(deps, parseHetznerError, new RateBudget(HETZNER_BUDGET, deps.rateScale)));
    this.#watcher = new ActionWatcher(this.#client, deps.pollMs ?? 100, deps.signal);
    this.importer = hetznerImport(this.#client);
  }

  /** A Hetzner token belongs to one project, which the API does not name: the endpoint alone. */
  api(): Promise<ApiBinding> {
    return Promise.resolve(apiBinding(this.#deps));
  }

  async checkCredentials(): Promise<CredentialCheck> {
    try {
      await this.#client.http.get("/locations", { query: { per_page: 1 } });
      return { ok: true };
    } catch (error) {
      if (error instanceof AutomnaError) return { ok: false, reason: error.message };
      throw error;
    }
  }

  async regions(): Promise<RegionInfo[]> {
    const locations = await this.#client.locations();
    return locations.map((l) => ({ name: l.name, description: l.description ?? `${l.city}, ${l.country}`, available: true }));
  }

  #serverTypes(): Promise<HServerType[]> {
    this.#types ??= this.#client.serverTypes();
    this.#types.catch(() => (this.#types = undefined));
    return this.#types;
  }

  async sizes(): Promise<SizeInfo[]> {
    return (await this.#serverTypes()).filter((t) => t.deprecated !== true).map((t) => {
      const first = t.prices[0];
      return {
        name: t.name, vcpus: t.cores, memoryMb: Math.round(t.memory * 1024), diskGb: t.disk, regions: t.prices.map((p) => p.location),
        hourlyPrice: price(first?.price_hourly.net), monthlyPrice: price(first?.price_monthly.net), currency: "EUR", source: "live" as const,
      };
    });
  }

  #livePricing(): Promise<{ currency: string; ipv4: Map<string, { hourly: number; monthly: number }> }> {
    this.#pricing ??= this.#client.pricing().then((p) => {
      const ipv4 = new Map<string, { hourly: number; monthly: number }>();
      for (const entry of p.primary_ips?.find((x) => x.type === "ipv4")?.prices ?? []) {
        ipv4.set(entry.location, { hourly: price(entry.price_hourly.net), monthly: price(entry.price_monthly.net) });
      }
      return { currency: p.currency, ipv4 };
    });
    return this.#pricing;
  }

  async billing(size: string, region: string): Promise<BillingItem[]> {
    // Net prices: what the fleet costs before VAT, as Hetzner lists them.
    const [types, pricing] = await Promise.all([this.#serverTypes(), this.#livePricing()]);
    const type = types.find((t) => t.name === size);
    const at = type?.prices.find((p) => p.location === region) ?? type?.prices[0];
    const items: BillingItem[] = [];
    if (at) {
      items.push({ kind: "server", quantity: 1, hourlyPrice: price(at.price_hourly.net), monthlyPrice: price(at.price_monthly.net), currency: pricing.currency, source: "live" });
    } else {
      const row = (await providerCatalog("hetzner")).sizes.find((s) => s.name === size);
      if (row) items.push({ kind: "server", quantity: 1, hourlyPrice: row.hourly, monthlyPrice: row.monthly, currency: "EUR", source: "catalog" });
    }
    const ip = pricing.ipv4.get(region);
    if (ip) items.push({ kind: "ipv4", quantity: 1, hourlyPrice: ip.hourly, monthlyPrice: ip.monthly, currency: pricing.currency, source: "live" });
    return items;
  }

  /** Registers `ssh.publicKey` once, found again by fingerprint on later runs. */
  #ensureSshKey(): Promise<number | undefined> {
    this.#sshKey ??= (async () => {
      const path = this.#deps.config.getString("ssh.publicKey");
      if (!path) return undefined;
      const key = readPublicKey(path);
      const existing = await this.#client.sshKeysByFingerprint(key.fingerprint);
      if (existing[0]) return existing[0].id;
      try {
        return (await this.#client.createSshKey(`automna-${key.fingerprint.replace(/:/g, "").slice(0, 12)}`, key.text)).id;
      } catch (error) {
        // Another process registered it meanwhile.
        if (error instanceof ProviderApiError && error.providerCode === "uniqueness_error") {
          const again = await this.#client.sshKeysByFingerprint(key.fingerprint);
          if (again[0]) return again[0].id;
        }
        throw error;
      }
    })();
    this.#sshKey.catch(() => (this.#sshKey = undefined));
    return this.#sshKey;
  }

  async provision(spec: ProvisionSpec, hooks: ProvisionHooks = {}): Promise<ProvisionResult> {
    const userData = renderUserData({ user: spec.user, opId: spec.opId, image: spec.image, env: spec.env, health: spec.health, hostKey: spec.hostKey }, USER_DATA_MAX);
    hooks.step?.("registering SSH key");
    const sshKey = await this.#ensureSshKey();
    const body = {
      name: resourceName(spec.user), server_type: spec.size, location: spec.region, image: OS_IMAGE, start_after_create: true,
      ssh_keys: sshKey === undefined ? [] : [String(sshKey)], user_data: userData,
      labels: { "automna.managed": "true", "automna.user": spec.user, "automna.op": spec.opId },
    };
    hooks.step?.("creating server");
    let adopted = false;
    let server: HServer | undefined;
    let actions: Parameters<ActionWatcher["wait"]>[0] = [];
    for (let attempt = 1; !server; attempt++) {
      try {
        const res = await this.#client.createServer(body, { sensitive: spec.hostKey !== undefined });
        server = res.body.server;
        actions = [res.body.action, ...(res.body.next_actions ?? [])];
      } catch (error) {
        server = await this.#adopt(spec, error);
        adopted = server !== undefined;
        // Nothing carries our marker, so the lost create made nothing: one more POST is safe.
        if (!server && attempt >= 2) throw error;
        if (!server) hooks.step?.("create answer lost and nothing was made; creating again");
      }
    }
    const created = toInstance(server);
    await hooks.created?.({ resources: created.resources, addresses: created.addresses });
    const billing = await this.billing(spec.size, spec.region);
    if (spec.noWait) return { instance: created, adopted, billing };
    hooks.step?.("waiting for the server to start");
    if (actions.length) await this.#watcher.wait(actions);
    else await this.wait(created, "running");
    const now = await this.#client.server(created.resources.server!);
    return { instance: now ? toInstance(now) : created, adopted, billing };
  }

  /**
   * After a create failed: a timeout/408/5xx may have created the server anyway, and a
   * uniqueness_error means a server of that name exists. Returns the server to adopt when it
   * carries our marker (or is this user's, by name), undefined when the lost create made nothing.
   */
  async #adopt(spec: ProvisionSpec, error: unknown): Promise<HServer | undefined> {
    const uniqueness = error instanceof ProviderApiError && error.providerCode === "uniqueness_error";
    if (!uniqueness && !mayHaveCommitted(error)) throw error;
    const byMarker = await this.#client.servers(`${MANAGED},automna.op=${spec.opId}`);
    if (byMarker[0]) return byMarker[0];
    if (!uniqueness) return undefined;
    const byName = await this.#client.serverByName(resourceName(spec.user));
    if (byName?.labels?.["automna.user"] === spec.user && byName.labels["automna.managed"] === "true") return byName;
    throw new ConflictError(`a Hetzner server named ${resourceName(spec.user)} already exists and is not this operation's`, {
      hint: "automna doctor shows it; adopt it with automna doctor --fix or delete it",
    });
  }

  async get(user: string): Promise<ProviderInstance | undefined> {
    const servers = await this.#client.servers(`${MANAGED},automna.user=${user}`);
    return servers[0] && toInstance(servers[0]);
  }

  async list(): Promise<ProviderInstance[]> {
    return this.#client.listAll("/servers", "servers", { label_selector: MANAGED }, toInstance);
  }

  async findByMarker(opId: string): Promise<ProviderInstance | undefined> {
    const servers = await this.#client.servers(`${MANAGED},automna.op=${opId}`);
    return servers[0] && toInstance(servers[0]);
  }

  async start(instance: Pick<ProviderInstance, "resources">): Promise<void> {
    await this.#watcher.wait([await this.#client.serverAction(serverId(instance), "poweron")]);
  }

  async stop(instance: Pick<ProviderInstance, "resources">): Promise<void> {
    // poweroff, not shutdown: an ACPI shutdown's action only says the request was sent.
    await this.#watcher.wait([await this.#client.serverAction(serverId(instance), "poweroff")]);
  }

  async destroy(instance: Pick<ProviderInstance, "resources" | "user">): Promise<string[]> {
    const id = instance.resources.server;
    if (!id) return [];
    const action = await this.#client.deleteServer(id);
    if (!action) return [];
    await this.#watcher.wait([action]);
    return [`server ${id}`];
  }

  async wait(instance: Pick<ProviderInstance, "resources">, state: "running" | "stopped", timeoutMs = 600_000): Promise<ProviderInstance> {
    const id = serverId(instance);
    return waitForVm(`Hetzner server ${id}`, async () => {
      const server = await this.#client.server(id);
      return server && toInstance(server);
    }, state, { timeoutMs, pollMs: this.#deps.pollMs ?? 100, signal: this.#deps.signal });
  }

  async close(): Promise<void> {
    await this.#client.http.close();
  }
}

function serverId(instance: Pick<ProviderInstance, "resources">): string {
  const id = instance.resources.server;
  if (!id) throw new AutomnaError("the instance has no Hetzner server id", { code: "not_found" });
  return id;
}

export function createProvider(deps: ProviderDeps): Provider {
  return new HetznerProvider(deps);
}
