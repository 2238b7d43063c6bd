import { AutomnaError, ProviderApiError } from "../../lib/errors.js";
import { mayHaveCommitted } from "../../lib/http.js";
import { mapConcurrent } from "../../lib/concurrency.js";
import { RateBudget } from "../../lib/rate-budget.js";
import { Secret } from "../../lib/redact.js";
import type { InstanceStatus } from "../../state/types.js";
import { apiBinding, makeHttp, pollIntervals, price, type ProviderDeps } from "../deps.js";
import type { ApiBinding } from "../binding.js";
import type {
  AccessInstance, AgentEnvChange, BillingItem, CredentialCheck, InstanceAccess, Provider, ProviderInstance, ProvisionHooks, ProvisionResult, ProvisionSpec, RegionInfo, SizeInfo,
} from "../types.js";
import { resourceName } from "../types.js";
import { KoyebClient, parseKoyebError, type KApp, type KCatalogInstance, type KDefinition, type KDeployment, type KService } from "./client.js";
import { volumeGb } from "../manifest.js";
import { koyeb } from "./manifest.js";
import { KoyebRemote, SERVICE_NAME } from "./remote.js";

/** The operation marker and the user ride in the service's env: Koyeb resources have no labels. */
const MARKER = "AUTOMNA_OP";
const USER = "AUTOMNA_USER";
const OWN = new Set([MARKER, USER]);
/**
 * Held the Koyeb way: a deployment whose docker command is `sleep infinity` instead of the
 * image's own, so the instance runs with /data mounted and exec works, but no agent.
 */
const HOLD = { command: "sleep", args: ["infinity"] };
/** Koyeb's undocumented budget as a probe saw it (400 per 60 s per token); see the sandbox's note. */
const KOYEB_BUDGET = { global: [{ capacity: 400, perSecond: 400 / 60 }] };

const STATUS: Record<string, InstanceStatus> = {
  HEALTHY: "running", DEGRADED: "running", STARTING: "starting", RESUMING: "starting", UNHEALTHY: "failed",
  PAUSING: "stopped", PAUSED: "stopped", DELETING: "deleting", DELETED: "deleting",
};

const secretName = (user: string, key: string): string => `${resourceName(user)}-${key}`;
const volumeName = (user: string): string => `${resourceName(user)}-data`;
const isHeld = (d: KDefinition): boolean => d.docker.command === HOLD.command;

class KoyebProvider implements Provider {
  readonly id = "koyeb" as const;
  readonly title = koyeb.title;
  readonly capabilities = koyeb.capabilities;
  readonly reach = koyeb.reach;
  readonly #deps: ProviderDeps;
  readonly #client: KoyebClient;
  readonly #remote: KoyebRemote;
  #catalog: Promise<KCatalogInstance[]> | undefined;

  constructor(deps: ProviderDeps) {
    this.#deps = deps;
    this.#client = new KoyebClient(makeHttp(deps, parseKoyebError, new RateBudget(KOYEB_BUDGET, deps.rateScale)));
    this.#remote = new KoyebRemote(this.#client, () => {
      const token = deps.config.secret(deps.info.tokenKey);
      if (!token) throw new AutomnaError(`no Koyeb API token`, { code: "auth", hint: `export ${deps.info.tokenEnv}=<token>` });
      return token.reveal();
    });
  }

  /** The endpoint alone, as for Hetzner: a Koyeb token is scoped to one organization already. */
  api(): Promise<ApiBinding> {
    return Promise.resolve(apiBinding(this.#deps));
  }

  async checkCredentials(): Promise<CredentialCheck> {
    try {
      return { ok: true, account: await this.#client.organizationId() };
    } catch (error) {
      if (error instanceof AutomnaError) return { ok: false, reason: error.message };
      throw error;
    }
  }

  /** Regions without volumes cannot hold an agent's /data: listed, but not available. */
  async regions(): Promise<RegionInfo[]> {
    return (await this.#client.regions()).map((r) => ({ name: r.id, description: r.volumes_enabled ? r.name : `${r.name} (no volumes)`, available: r.volumes_enabled === true && r.status !== "unavailable" }));
  }

  #instances(): Promise<KCatalogInstance[]> {
    this.#catalog ??= this.#client.catalogInstances();
    this.#catalog.catch(() => (this.#catalog = undefined));
    return this.#catalog;
  }

  /**
   * Sizes live from the instance catalog: only those that can take a volume (no Eco, no `free`,
   * which sleeps after an hour idle and cannot be kept on).
   */
  async sizes(): Promise<SizeInfo[]> {
    return (await this.#instances()).filter((t) => t.volumes_enabled === true && t.id !== "free" && t.type !== "eco").map((t) => ({
      name: t.id, vcpus: t.vcpu_shares ?? 0, memoryMb: parseInt(t.memory ?? "0", 10), diskGb: parseFloat(t.disk ?? "") || null, regions: t.regions ?? [],
      hourlyPrice: price(t.price_hourly), monthlyPrice: price(t.price_monthly), currency: "USD", source: "live" as const,
    }));
  }

  /** The instance's catalog price; Koyeb publishes no volume price, so the volume is not priced. */
  async billing(size: string): Promise<BillingItem[]> {
    const t = (await this.#instances()).find((x) => x.id === size);
    if (!t) return [];
    return [{ kind: "server", quantity: 1, hourlyPrice: price(t.price_hourly), monthlyPrice: price(t.price_monthly), currency: "USD", source: "live" }];
  }

  async provision(spec: ProvisionSpec, hooks: ProvisionHooks = {}): Promise<ProvisionResult> {
    const billing = await this.billing(spec.size);
    const name = resourceName(spec.user);
    hooks.step?.("creating app");
    const app = await this.#ensure(() => this.#client.appByName(name), () => this.#client.createApp(name));
    const secretRefs = await this.#putSecrets(spec.user, Object.fromEntries(Object.entries(spec.secrets).map(([k, v]) => [k, v.reveal()])));
    hooks.step?.("creating volume");
    const vName = volumeName(spec.user);
    const volume = await this.#ensure(() => this.#client.volumeByName(vName), () => this.#client.createVolume(vName, spec.region, volumeGb(this.#deps.config.getNumber("koyeb.volumeGb"))));
    if (volume.region !== spec.region) throw new AutomnaError(`${spec.user}'s Koyeb volume is in ${volume.region}, not ${spec.region}`, { code: "conflict", hint: "a volume cannot move; destroy the instance first or provision in its region" });
    await hooks.created?.({ resources: { app: app.id, appName: name, volume: volume.id }, addresses: {} });
    const definition: KDefinition = {
      name: SERVICE_NAME,
      type: "WORKER",
      docker: { image: spec.image, ...(spec.hold ? HOLD : {}) },
      regions: [spec.region],
      instance_types: [{ type: spec.size }],
      // Always on: one instance, no autoscaling targets, so no sleep.
      scalings: [{ min: 1, max: 1 }],
      env: [
        ...Object.entries(spec.env).map(([key, value]) => ({ key, value })),
        ...secretRefs,
        { key: MARKER, value: spec.opId }, { key: USER, value: spec.user },
      ],
      volumes: [{ id: volume.id, path: "/data" }],
      health_checks: [{ grace_period: 60, interval: 30, restart_limit: 3, timeout: 5, tcp: { port: spec.health.port } }],
    };
    hooks.step?.("creating service");
    const findService = async (): Promise<KService | undefined> => (await this.#client.services(app.id)).find((s) => s.name === SERVICE_NAME);
    let service = await findService();
    let adopted = service !== undefined;
    if (!service) {
      try {
        service = await this.#client.createService(app.id, SERVICE_NAME, definition);
      } catch (error) {
        // The answer was lost: the service is looked up before any second create.
        service = mayHaveCommitted(error) ? await findService() : undefined;
        if (!service) throw error;
        adopted = true;
      }
    }
    const resources = { app: app.id, appName: name, service: service.id, volume: volume.id };
    await hooks.created?.({ resources, addresses: {} });
    if (!spec.noWait) {
      hooks.step?.("waiting for the deployment to be healthy");
      await this.#waitDeployed(service.id);
    }
    const instance = await this.#describe(app, (await this.#client.service(service.id)) ?? service);
    return { instance, adopted, billing };
  }

  /** Finds, else creates; a create whose answer was lost is looked up before any second one. */
  async #ensure<T>(find: () => Promise<T | undefined>, create: () => Promise<T>): Promise<T> {
    const found = await find();
    if (found) return found;
    try {
      return await create();
    } catch (error) {
      if (!mayHaveCommitted(error)) throw error;
      const made = await find();
      if (made) return made;
      throw error;
    }
  }

  /** Upserts the user's secrets; returns their env references. */
  async #putSecrets(user: string, values: Record<string, string>): Promise<{ key: string; secret: string }[]> {
    if (!Object.keys(values).length) return [];
    const existing = new Map((await this.#client.secrets()).map((s) => [s.name, s.id]));
    const refs: { key: string; secret: string }[] = [];
    for (const [key, value] of Object.entries(values)) {
      const name = secretName(user, key);
      const id = existing.get(name);
      if (id) await this.#client.updateSecret(id, value);
      else await this.#ensure(async () => (await this.#client.secrets()).find((s) => s.name === name), () => this.#client.createSecret(name, value));
      refs.push({ key, secret: name });
    }
    return refs;
  }

  async #latest(service: KService): Promise<KDeployment | undefined> {
    return service.latest_deployment_id ? this.#client.deployment(service.latest_deployment_id) : undefined;
  }

  async #describe(app: KApp, service: KService | undefined): Promise<ProviderInstance> {
    const user = app.name.replace(/^automna-/, "");
    if (!service) {
      return { provider: "koyeb", user, opId: null, region: "", size: "", image: null, status: "failed", providerStatus: "no service", resources: { app: app.id, appName: app.name }, addresses: {}, createdAt: app.created_at ?? null };
    }
    const d = await this.#latest(service);
    const def = d?.definition;
    const env = new Map((def?.env ?? []).map((e) => [e.key, e.value]));
    const volume = def?.volumes?.[0]?.id;
    const deploying = d && d.status !== "HEALTHY" && service.status === "HEALTHY" ? "starting" : undefined;
    return {
      provider: "koyeb", user: env.get(USER) ?? user, opId: env.get(MARKER) ?? null,
      region: def?.regions[0] ?? "", size: def?.instance_types[0]?.type ?? "", image: def?.docker.image ?? null,
      status: deploying ?? STATUS[service.status] ?? "unknown", providerStatus: `${service.status}${d ? ` (deployment ${d.status})` : ""}`,
      resources: { app: app.id, appName: app.name, service: service.id, ...(volume ? { volume } : {}) }, addresses: {}, createdAt: service.created_at ?? null,
    };
  }

  async get(user: string): Promise<ProviderInstance | undefined> {
    const app = await this.#client.appByName(resourceName(user));
    if (!app) return undefined;
    return this.#describe(app, (await this.#client.services(app.id)).find((s) => s.name === SERVICE_NAME));
  }

  async list(): Promise<ProviderInstance[]> {
    const apps = (await this.#client.all<KApp>("/v1/apps", "apps")).filter((a) => a.name.startsWith("automna-"));
    return mapConcurrent(apps, 8, async (app) => this.#describe(app, (await this.#client.services(app.id)).find((s) => s.name === SERVICE_NAME)));
  }

  async findByMarker(opId: string): Promise<ProviderInstance | undefined> {
    return (await this.list()).find((i) => i.opId === opId);
  }

  async start(instance: Pick<ProviderInstance, "resources">): Promise<void> {
    await this.#client.serviceAction(serviceId(instance), "resume");
  }

  async stop(instance: Pick<ProviderInstance, "resources">): Promise<void> {
    await this.#client.serviceAction(serviceId(instance), "pause");
  }

  /** Service (waiting until it is gone), volume, secrets, app: in that order; what is gone already is skipped. */
  async destroy(instance: Pick<ProviderInstance, "resources" | "user">): Promise<string[]> {
    const removed: string[] = [];
    const app = instance.resources.app ? { id: instance.resources.app } : await this.#client.appByName(resourceName(instance.user));
    if (app) {
      for (const s of await this.#client.services(app.id).catch((e: unknown) => (e instanceof ProviderApiError && e.status === 404 ? [] : Promise.reject(e)))) {
        if (await this.#client.remove(`/v1/services/${encodeURIComponent(s.id)}`)) removed.push(`service ${s.id}`);
        await this.#until(async () => (await this.#client.service(s.id)) === undefined, `service ${s.id} to be deleted`);
      }
    }
    const volume = instance.resources.volume ?? (await this.#client.volumeByName(volumeName(instance.user)))?.id;
    if (volume && (await this.#client.remove(`/v1/volumes/${encodeURIComponent(volume)}`))) removed.push(`volume ${volume}`);
    for (const s of (await this.#client.secrets()).filter((x) => x.name.startsWith(`${resourceName(instance.user)}-`))) {
      if (await this.#client.remove(`/v1/secrets/${encodeURIComponent(s.id)}`)) removed.push(`secret ${s.name}`);
    }
    if (app && (await this.#client.remove(`/v1/apps/${encodeURIComponent(app.id)}`))) removed.push(`app ${app.id}`);
    return removed;
  }

  async #until(done: () => Promise<boolean>, what: string, timeoutMs = 300_000): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    for (const ms of pollIntervals(this.#deps.pollMs)) {
      if (await done()) return;
      if (Date.now() > deadline) throw new AutomnaError(`timed out waiting for ${what}`, { code: "timeout" });
      await new Promise((resolve) => setTimeout(resolve, ms));
    }
  }

  /** Until the service's latest deployment is healthy; a deployment that fails is an error. */
  async #waitDeployed(id: string, timeoutMs = 300_000): Promise<void> {
    await this.#until(async () => {
      const s = await this.#client.service(id);
      if (!s) throw new AutomnaError(`Koyeb service ${id} no longer exists`, { code: "not_found" });
      const d = await this.#latest(s);
      if (d && ["ERROR", "CANCELED", "STOPPED"].includes(d.status)) throw new AutomnaError(`Koyeb deployment ${d.id} ended ${d.status}`, { code: "machine_failed" });
      return d?.status === "HEALTHY" && s.status === "HEALTHY";
    }, `Koyeb service ${id} to be deployed`, timeoutMs);
  }

  async wait(instance: Pick<ProviderInstance, "resources">, state: "running" | "stopped", timeoutMs?: number): Promise<ProviderInstance> {
    const id = serviceId(instance);
    if (state === "running") await this.#waitDeployed(id, timeoutMs);
    else await this.#until(async () => (await this.#client.service(id))?.status === "PAUSED", `Koyeb service ${id} to pause`, timeoutMs);
    const s = await this.#client.service(id);
    return this.#describe({ id: instance.resources.app ?? s?.app_id ?? "", name: instance.resources.appName ?? "" }, s);
  }

  /** The latest definition, changed and deployed (a new deployment: the container restarts). */
  async #redeploy(instance: Pick<ProviderInstance, "resources">, change: (d: KDefinition) => boolean): Promise<boolean> {
    const s = await this.#client.service(serviceId(instance));
    const d = s ? await this.#latest(s) : undefined;
    if (!s || !d?.definition) throw new AutomnaError(`the Koyeb service ${serviceId(instance)} has no deployment`, { code: "not_found" });
    const def = structuredClone(d.definition);
    if (!change(def)) {
      if (d.status !== "HEALTHY") await this.#waitDeployed(s.id);
      return false;
    }
    await this.#client.updateService(s.id, def);
    await this.#waitDeployed(s.id);
    return true;
  }

  async #readEnv(instance: Pick<ProviderInstance, "resources">): Promise<Record<string, Secret>> {
    const s = await this.#client.service(serviceId(instance));
    const d = s ? await this.#latest(s) : undefined;
    const out: Record<string, Secret> = {};
    const secrets = new Map((await this.#client.secrets()).map((x) => [x.name, x.id]));
    for (const e of d?.definition?.env ?? []) {
      if (OWN.has(e.key)) continue;
      if (e.secret !== undefined) {
        const id = secrets.get(e.secret);
        if (id) out[e.key] = new Secret(await this.#client.reveal(id));
      } else out[e.key] = new Secret(e.value ?? "");
    }
    return out;
  }

  /** Values go in as Koyeb secrets referenced by the definition; any change is a new deployment. */
  async #updateEnv(instance: AccessInstance, change: AgentEnvChange): Promise<boolean> {
    const refs = await this.#putSecrets(instance.user, Object.fromEntries(Object.entries(change.set).map(([k, v]) => [k, v.reveal()])));
    const changed = await this.#redeploy(instance, (def) => {
      const drop = new Set([...change.unset, ...Object.keys(change.set)]);
      const before = JSON.stringify(def.env);
      def.env = [...def.env.filter((e) => !drop.has(e.key) || OWN.has(e.key)), ...refs];
      return JSON.stringify(def.env) !== before || refs.length > 0;
    });
    const gone = new Set(change.unset.map((k) => secretName(instance.user, k)));
    for (const s of (await this.#client.secrets()).filter((x) => gone.has(x.name))) await this.#client.remove(`/v1/secrets/${encodeURIComponent(s.id)}`);
    return changed || gone.size > 0;
  }

  access(instance: AccessInstance): InstanceAccess {
    return {
      api: this.#remote,
      createsHeld: true,
      readEnv: () => this.#readEnv(instance),
      // Koyeb restarts the container on any env change (env is part of the deployment).
      updateEnv: (change) => this.#updateEnv(instance, change),
      hold: async (held) => {
        await this.#redeploy(instance, (def) => {
          if (isHeld(def) === held) return false;
          if (held) Object.assign(def.docker, HOLD);
          else {
            delete def.docker.command;
            delete def.docker.args;
          }
          return true;
        });
      },
      // A WORKER service has no public address or domain to point a name at.
      route: () => undefined,
    };
  }

  async close(): Promise<void> {
    await this.#client.http.close();
  }
}

function serviceId(instance: Pick<ProviderInstance, "resources">): string {
  const id = instance.resources.service;
  if (!id) throw new AutomnaError("the instance has no Koyeb service id", { code: "not_found" });
  return id;
}

export function createProvider(deps: ProviderDeps): Provider {
  return new KoyebProvider(deps);
}
