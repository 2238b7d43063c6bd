import { AutomnaError, ProviderApiError } from "../../lib/errors.js";
import { mayHaveCommitted } from "../../lib/http.js";
import { RateBudget, sleep, type BudgetRule } from "../../lib/rate-budget.js";
import type { InstanceStatus } from "../../state/types.js";
import { providerCatalog } from "../catalog.js";
import { apiBinding, makeHttp, pollIntervals, type ProviderDeps } from "../deps.js";
import type {
  BillingItem, CredentialCheck, Provider, ProviderImport, ProviderInstance, ProvisionHooks, ProvisionResult, ProvisionSpec, RegionInfo, SizeInfo,
} from "../types.js";
import type { ApiBinding } from "../binding.js";
import { resourceName } from "../types.js";
import { renderUserData } from "../vm/cloud-init.js";
import { readPublicKey } from "../vm/ssh-key.js";
import { vmAccess } from "../vm/access.js";
import { waitForVm } from "../vm/wait.js";
import { digitalocean } from "./manifest.js";
import { DigitalOceanClient, parseDigitalOceanError, type DDroplet, type DSize } from "./client.js";
import { digitalOceanImport } from "./import.js";

/**
 * DigitalOcean's documented budget per token: 5,000 requests per hour and 250 per minute, where
 * each request counts for the hour (and minute) after it was made: sliding windows, not buckets.
 * Its one RateLimit-Remaining also drops to 0 when the minute's burst is spent, so it is applied
 * to the minute's window.
 */
export const DIGITALOCEAN_BUDGET: BudgetRule = {
  global: [{ capacity: 5000, perSecond: 5000 / 3600, sliding: true, syncs: false }, { capacity: 250, perSecond: 250 / 60, sliding: true }],
};
const OS_IMAGE = "ubuntu-24-04-x64";
const USER_DATA_MAX = 64 * 1024;
const TAG = "automna";
export const AUTOMNA_TAG = TAG;
export const userTag = (user: string): string => `automna-user-${user}`;
export const opTag = (opId: string): string => `automna-op-${opId}`;

const STATUS: Record<string, InstanceStatus> = { new: "starting", active: "running", off: "stopped", archive: "stopped" };

export function toInstance(d: DDroplet): ProviderInstance {
  const addresses: Record<string, string> = {};
  const v4s = d.networks?.v4 ?? [];
  const v4 = v4s.find((n) => n.type === "public");
  const v6 = (d.networks?.v6 ?? []).find((n) => n.type === "public");
  const priv = v4s.find((n) => n.type === "private");
  const tags = d.tags ?? [];
  if (v4) addresses.ipv4 = v4.ip_address;
  if (v6) addresses.ipv6 = v6.ip_address;
  if (priv) addresses.private = priv.ip_address;
  const user = tags.find((t) => t.startsWith("automna-user-"))?.slice("automna-user-".length) ?? d.name.replace(/^automna-/, "");
  return {
    provider: "digitalocean",
    user,
    opId: tags.find((t) => t.startsWith("automna-op-"))?.slice("automna-op-".length) ?? null,
    region: d.region?.slug ?? "",
    size: d.size_slug ?? "",
    image: d.image?.slug ?? d.image?.name ?? null,
    status: STATUS[d.status] ?? "unknown",
    providerStatus: d.status,
    resources: { droplet: String(d.id) },
    addresses,
    createdAt: d.created_at ?? null,
  };
}

class DigitalOceanProvider implements Provider {
  readonly id = "digitalocean" as const;
  readonly title = "DigitalOcean";
  readonly capabilities = digitalocean.capabilities;
  readonly reach = digitalocean.reach;
  readonly access = vmAccess;
  readonly #deps: ProviderDeps;
  readonly #client: DigitalOceanClient;
  readonly importer: ProviderImport;
  #sizes: Promise<DSize[]> | undefined;
  #sshKey: Promise<string | undefined> | undefined;
  #api: Promise<ApiBinding> | undefined;

  constructor(deps: ProviderDeps) {
    this.#deps = deps;
    this.#client = new DigitalOceanClient(makeHttp(deps, parseDigitalOceanError, new RateBudget(DIGITALOCEAN_BUDGET, deps.rateScale)));
    this.importer = digitalOceanImport(this.#client);
  }

  /**
   * The account the token belongs to (`GET /v2/account`, its uuid), asked once. A token whose
   * scopes do not include reading the account (403) is bound by endpoint alone.
   */
  api(): Promise<ApiBinding> {
    this.#api ??= this.#client.http.get<{ account?: { uuid?: string } }>("/v2/account").then(
      (res) => apiBinding(this.#deps, res.body.account?.uuid),
      (error: unknown) => {
        if (error instanceof ProviderApiError && error.status === 403) return apiBinding(this.#deps);
        throw error;
      },
    );
    this.#api.catch(() => (this.#api = undefined));
    return this.#api;
  }

  async checkCredentials(): Promise<CredentialCheck> {
    try {
      await this.#client.http.get("/v2/regions", { query: { per_page: 1 } });
      return { ok: true };
    } catch (error) {
      if (error instanceof AutomnaError) return { ok: false, reason: error.message };
      throw error;
    }
  }

  async regions(): Promise<RegionInfo[]> {
    return (await this.#client.regions()).map((r) => ({ name: r.slug, description: r.name, available: r.available }));
  }

  #rawSizes(): Promise<DSize[]> {
    this.#sizes ??= this.#client.sizes();
    this.#sizes.catch(() => (this.#sizes = undefined));
    return this.#sizes;
  }

  async sizes(): Promise<SizeInfo[]> {
    return (await this.#rawSizes()).filter((s) => s.available !== false).map((s) => ({
      name: s.slug, vcpus: s.vcpus, memoryMb: s.memory, diskGb: s.disk, regions: s.regions,
      hourlyPrice: s.price_hourly, monthlyPrice: s.price_monthly, currency: "USD", source: "live" as const,
    }));
  }

  async billing(size: string): Promise<BillingItem[]> {
    const live = (await this.#rawSizes()).find((s) => s.slug === size);
    if (live) return [{ kind: "server", quantity: 1, hourlyPrice: live.price_hourly, monthlyPrice: live.price_monthly, currency: "USD", source: "live" }];
    const row = (await providerCatalog("digitalocean")).sizes.find((s) => s.name === size);
    return row ? [{ kind: "server", quantity: 1, hourlyPrice: row.hourly, monthlyPrice: row.monthly, currency: "USD", source: "catalog" }] : [];
  }

  /** Registers `ssh.publicKey` once; DigitalOcean accepts the fingerprint in `ssh_keys`. */
  #ensureSshKey(): Promise<string | undefined> {
    this.#sshKey ??= (async () => {
      const path = this.#deps.config.getString("ssh.publicKey");
      if (!path) return undefined;
      const key = readPublicKey(path);
      if (await this.#client.sshKey(key.fingerprint)) return key.fingerprint;
      try {
        await this.#client.createSshKey(`automna-${key.fingerprint.replace(/:/g, "").slice(0, 12)}`, key.text);
      } catch (error) {
        // Registered by another process meanwhile ("already in use"): fine if it is there now.
        if (!(error instanceof ProviderApiError && error.status === 422 && (await this.#client.sshKey(key.fingerprint)))) throw error;
      }
      return key.fingerprint;
    })();
    this.#sshKey.catch(() => (this.#sshKey = undefined));
    return this.#sshKey;
  }

  async provision(spec: ProvisionSpec, hooks: ProvisionHooks = {}): Promise<ProvisionResult> {
    const userData = renderUserData({ user: spec.user, opId: spec.opId, image: spec.image, env: spec.env, health: spec.health, hostKey: spec.hostKey }, USER_DATA_MAX);
    hooks.step?.("registering SSH key");
    const fingerprint = await this.#ensureSshKey();
    const body = {
      name: resourceName(spec.user), region: spec.region, size: spec.size, image: OS_IMAGE, ipv6: true, monitoring: false,
      ssh_keys: fingerprint ? [fingerprint] : [], tags: [TAG, userTag(spec.user), opTag(spec.opId)], user_data: userData,
    };
    hooks.step?.("creating droplet");
    let droplet: DDroplet | undefined;
    let actionId: number | undefined;
    let adopted = false;
    for (let attempt = 1; !droplet; attempt++) {
      try {
        ({ droplet, actionId } = await this.#client.createDroplet(body, { sensitive: spec.hostKey !== undefined }));
      } catch (error) {
        if (!mayHaveCommitted(error)) throw error;
        // The answer was lost; the op tag tells whether the droplet was made before any second POST.
        droplet = (await this.#client.droplets(opTag(spec.opId)))[0];
        adopted = droplet !== undefined;
        if (!droplet && attempt >= 2) throw error;
      }
    }
    const created = toInstance(droplet);
    await hooks.created?.({ resources: created.resources, addresses: created.addresses });
    const billing = await this.billing(spec.size);
    if (spec.noWait) return { instance: created, adopted, billing };
    hooks.step?.("waiting for the droplet to start");
    if (actionId !== undefined) await this.#waitAction(actionId);
    return { instance: await this.wait(created, "running"), adopted, billing };
  }

  async #waitAction(id: number, timeoutMs = 600_000): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    const intervals = pollIntervals(this.#deps.pollMs ?? 100);
    for (;;) {
      const action = await this.#client.action(id);
      if (action.status === "completed") return;
      if (action.status === "errored") throw new AutomnaError(`DigitalOcean action ${action.type} (${id}) errored`, { code: "action_failed" });
      if (Date.now() > deadline) throw new AutomnaError(`DigitalOcean action ${id} still in progress after ${Math.round(timeoutMs / 1000)} s`, { code: "timeout" });
      await sleep(intervals.next().value as number, this.#deps.signal);
    }
  }

  async get(user: string): Promise<ProviderInstance | undefined> {
    const droplets = await this.#client.droplets(userTag(user));
    return droplets[0] && toInstance(droplets[0]);
  }

  async list(): Promise<ProviderInstance[]> {
    return this.#client.listAll("/v2/droplets", "droplets", { tag_name: TAG }, toInstance);
  }

  async findByMarker(opId: string): Promise<ProviderInstance | undefined> {
    const droplets = await this.#client.droplets(opTag(opId));
    return droplets[0] && toInstance(droplets[0]);
  }

  async start(instance: Pick<ProviderInstance, "resources">): Promise<void> {
    await this.#waitAction((await this.#client.dropletAction(dropletId(instance), "power_on")).id);
  }

  async stop(instance: Pick<ProviderInstance, "resources">): Promise<void> {
    await this.#waitAction((await this.#client.dropletAction(dropletId(instance), "power_off")).id);
  }

  async destroy(instance: Pick<ProviderInstance, "resources" | "user">): Promise<string[]> {
    const id = instance.resources.droplet;
    if (!id) return [];
    return (await this.#client.deleteDroplet(id)) ? [`droplet ${id}`] : [];
  }

  async wait(instance: Pick<ProviderInstance, "resources">, state: "running" | "stopped", timeoutMs = 600_000): Promise<ProviderInstance> {
    const id = dropletId(instance);
    return waitForVm(`DigitalOcean droplet ${id}`, async () => {
      const droplet = await this.#client.droplet(id);
      return droplet && toInstance(droplet);
    }, state, { timeoutMs, pollMs: this.#deps.pollMs ?? 100, signal: this.#deps.signal });
  }

  async close(): Promise<void> {
    await this.#client.http.close();
  }
}

function dropletId(instance: Pick<ProviderInstance, "resources">): string {
  const id = instance.resources.droplet;
  if (!id) throw new AutomnaError("the instance has no DigitalOcean droplet id", { code: "not_found" });
  return id;
}

export function createProvider(deps: ProviderDeps): Provider {
  return new DigitalOceanProvider(deps);
}
