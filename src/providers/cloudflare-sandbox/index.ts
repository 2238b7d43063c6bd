import { sandboxIdForUser } from "../../lib/base32.js";
import { AutomnaError, NotSupportedError, UsageError } from "../../lib/errors.js";
import { RateBudget } from "../../lib/rate-budget.js";
import type { StorageClient } from "../../lib/s3-objects.js";
import { apiBinding, makeHttp, type ProviderDeps } from "../deps.js";
import type { ApiBinding } from "../binding.js";
import { providerCatalog } from "../catalog.js";
import type {
  AccessInstance, BillingItem, CredentialCheck, InstanceAccess, Provider, ProviderInstance, ProvisionHooks, ProvisionResult, ProvisionSpec, RegionInfo, SizeInfo,
} from "../types.js";
import { BridgeClient, parseBridgeError } from "./client.js";
import { MARKER_PREFIX, r2Client, r2Settings, templatePrefix, type SandboxMarker } from "./data.js";
import { CloudflareImport } from "./import.js";
import { cloudflareSandbox } from "./manifest.js";
import { BridgeRemote } from "./remote.js";

/** The bridge documents no rate limit; a generous local budget keeps bulk runs polite. */
const BRIDGE_BUDGET = { global: [{ capacity: 50, perSecond: 50 }] };

/** Why automna does not provision here by default (the seed's verdict), and how to anyway. */
export const SLEEPS = "Cloudflare Sandbox containers sleep 10 minutes after the last request (the bridge cannot keep them awake) and lose their disk, so an always-on agent does not stay on";

class CloudflareSandboxProvider implements Provider {
  readonly id = "cloudflare-sandbox" as const;
  readonly title = cloudflareSandbox.title;
  readonly capabilities = cloudflareSandbox.capabilities;
  readonly reach = cloudflareSandbox.reach;
  readonly importer: CloudflareImport;
  readonly #deps: ProviderDeps;
  readonly #client: BridgeClient;
  readonly #remote: BridgeRemote;
  #r2: StorageClient | undefined;

  constructor(deps: ProviderDeps) {
    this.#deps = deps;
    this.#client = new BridgeClient(makeHttp(deps, parseBridgeError, new RateBudget(BRIDGE_BUDGET, deps.rateScale)));
    this.#remote = new BridgeRemote(this.#client);
    this.importer = new CloudflareImport(deps.config, () => this.r2(), (m) => this.#describe(m));
  }

  get #bucket(): string {
    return this.#deps.config.getString("cloudflareSandbox.bucket") ?? "automna";
  }

  /** The bucket the sandboxes mount, through the storage.* endpoint and keys. */
  r2(): StorageClient {
    this.#r2 ??= r2Client(this.#deps.config, this.#bucket, this.#deps.signal);
    return this.#r2;
  }

  api(): Promise<ApiBinding> {
    return Promise.resolve(apiBinding(this.#deps));
  }

  /** `GET /v1/pool/stats` needs the key and wakes no sandbox. */
  async checkCredentials(): Promise<CredentialCheck> {
    try {
      await this.#client.poolStats();
      return { ok: true };
    } catch (error) {
      if (error instanceof AutomnaError) return { ok: false, reason: error.message };
      throw error;
    }
  }

  regions(): Promise<RegionInfo[]> {
    return Promise.resolve(cloudflareSandbox.regions.map((r) => ({ ...r, available: true })));
  }

  async sizes(): Promise<SizeInfo[]> {
    const cat = await providerCatalog(this.id);
    return cat.sizes.map((s) => ({ name: s.name, vcpus: s.vcpus, memoryMb: s.memoryMb, diskGb: s.diskGb, regions: [], hourlyPrice: s.hourly, monthlyPrice: s.monthly, currency: cat.currency, source: "catalog" as const }));
  }

  /** The dated catalog's estimate for an instance type kept awake all month (memory and disk; CPU and Workers Paid on top). */
  async billing(size: string): Promise<BillingItem[]> {
    const cat = await providerCatalog(this.id);
    const s = cat.sizes.find((x) => x.name === size);
    return s ? [{ kind: "server", quantity: 1, hourlyPrice: s.hourly, monthlyPrice: s.monthly, currency: cat.currency, source: "catalog" }] : [];
  }

  #describe(m: SandboxMarker, providerStatus = "asleep or awake (the bridge cannot tell without waking it)"): ProviderInstance {
    // Stopped by automna (a freeze, a retired source): recorded in the marker, since asking the bridge would wake it.
    const stopped = m.stopped === true;
    return {
      provider: this.id, user: m.user, opId: m.opId, region: "auto", size: m.size, image: null, status: stopped ? "stopped" : "running",
      providerStatus: `${stopped ? "stopped by automna (the next request wakes it)" : providerStatus}; not always-on`, resources: { sandbox: m.sandbox, bucket: m.bucket, prefix: m.prefix }, addresses: {}, createdAt: null,
    };
  }

  async #markers(): Promise<SandboxMarker[]> {
    const objects = await this.r2().listObjects(MARKER_PREFIX);
    const out: SandboxMarker[] = [];
    for (const o of objects) {
      const text = await this.r2().getText(o.key);
      try {
        if (text) out.push(JSON.parse(text) as SandboxMarker);
      } catch {
        // Not one of ours: ignored.
      }
    }
    return out;
  }

  async writeMarker(m: SandboxMarker): Promise<void> {
    await this.r2().putObject(`${MARKER_PREFIX}${m.sandbox}.json`, JSON.stringify(m));
  }

  /** Records whether automna stopped the sandbox (list and doctor read it without waking it). */
  async #markStopped(sandbox: string, stopped: boolean): Promise<void> {
    const text = await this.r2().getText(`${MARKER_PREFIX}${sandbox}.json`);
    if (!text) return;
    const m = JSON.parse(text) as SandboxMarker;
    if ((m.stopped === true) !== stopped) await this.writeMarker({ ...m, stopped });
  }

  /**
   * Provisions only with `allowSleep`: a sandbox ID derived from the user, automna's marker in R2,
   * the container woken and the user's prefix mounted at the data path. The image must start the agent.
   */
  async provision(spec: ProvisionSpec, hooks: ProvisionHooks = {}): Promise<ProvisionResult> {
    if (!spec.allowSleep) throw new UsageError(`automna does not provision on Cloudflare Sandbox: ${SLEEPS}`, { hint: "pick another provider, or pass --allow-sleep to make one anyway (flagged not always-on)" });
    const sandbox = sandboxIdForUser(spec.user);
    const existing = await this.get(spec.user);
    const marker: SandboxMarker = { user: spec.user, opId: existing?.opId ?? spec.opId, sandbox, bucket: this.#bucket, prefix: templatePrefix(this.#deps.config, spec.user), size: spec.size, origin: "provisioned" };
    hooks.step?.("recording the sandbox in R2");
    await this.writeMarker(marker);
    await hooks.created?.({ resources: { sandbox, bucket: marker.bucket, prefix: marker.prefix }, addresses: {} });
    hooks.step?.("waking the sandbox and mounting its data prefix");
    await this.start({ resources: { sandbox, bucket: marker.bucket, prefix: marker.prefix } });
    return { instance: this.#describe(marker, "awake"), adopted: existing !== undefined, billing: await this.billing(spec.size) };
  }

  async get(user: string): Promise<ProviderInstance | undefined> {
    const m = (await this.#markers()).find((x) => x.user === user);
    return m ? this.#describe(m, await this.#sleepState()) : undefined;
  }

  /**
   * automna's own record of the sandboxes (the bridge lists none). Whether each is awake is not
   * known without waking it; only a pool with no container assigned says all are asleep.
   */
  async list(): Promise<ProviderInstance[]> {
    const [markers, state] = await Promise.all([this.#markers(), this.#sleepState()]);
    return markers.map((m) => this.#describe(m, state));
  }

  async #sleepState(): Promise<string> {
    const stats = await this.#client.poolStats();
    return stats.assigned === 0 ? "asleep" : "asleep or awake (the bridge cannot tell without waking it)";
  }

  async findByMarker(opId: string): Promise<ProviderInstance | undefined> {
    const m = (await this.#markers()).find((x) => x.opId === opId);
    return m ? this.#describe(m) : undefined;
  }

  /** Wakes the sandbox (`GET /running`) and mounts the user's prefix at the data path, unless the Worker already did. */
  async start(instance: Pick<ProviderInstance, "resources">): Promise<void> {
    const { sandbox, bucket, prefix } = instance.resources;
    if (!sandbox) throw new AutomnaError("the instance has no Cloudflare sandbox id", { code: "not_found" });
    await this.#client.running(sandbox);
    await this.#markStopped(sandbox, false);
    if (bucket && prefix) {
      const settings = r2Settings(this.#deps.config, bucket);
      await this.#client.mount(sandbox, bucket, settings.endpoint, prefix, this.#deps.config.getString("cloudflareSandbox.dataPath") ?? "/workspace/data");
    }
  }

  /** `DELETE /v1/sandbox/{id}`: the container stops at once and its disk goes; the R2 prefix stays. */
  async stop(instance: Pick<ProviderInstance, "resources">): Promise<void> {
    const sandbox = instance.resources.sandbox;
    if (!sandbox) return;
    await this.#client.remove(sandbox);
    await this.#markStopped(sandbox, true);
  }

  /** Stops the container and forgets the sandbox; the data prefix is kept unless `deleteData` (`--delete-data`). */
  async destroy(instance: Pick<ProviderInstance, "resources" | "user">, options: { deleteData?: boolean } = {}): Promise<string[]> {
    const { sandbox, bucket, prefix } = instance.resources;
    if (!sandbox) return [];
    await this.#client.remove(sandbox);
    await this.r2().deleteObject(`${MARKER_PREFIX}${sandbox}.json`);
    const where = `${bucket ?? this.#bucket}/${prefix ?? "?"}`;
    if (!options.deleteData || !prefix) return [`sandbox ${sandbox} (data prefix ${where} kept)`];
    const objects = bucket && bucket !== this.#bucket ? r2Client(this.#deps.config, bucket, this.#deps.signal) : this.r2();
    try {
      const n = await objects.deletePrefix(prefix);
      return [`sandbox ${sandbox}`, `data prefix ${where} (${n} objects)`];
    } finally {
      if (objects !== this.r2()) await objects.close();
    }
  }

  /** Running: wakes it (the only way to know). Stopped: nothing to ask without waking it again. */
  async wait(instance: Pick<ProviderInstance, "resources">, state: "running" | "stopped"): Promise<ProviderInstance> {
    const sandbox = instance.resources.sandbox ?? "";
    if (state === "running") await this.#client.running(sandbox);
    const m = (await this.#markers()).find((x) => x.sandbox === sandbox);
    const described = m ? this.#describe(m, state === "running" ? "awake" : "stopped (the next request wakes it)") : undefined;
    return described ? { ...described, status: state } : { provider: this.id, user: "", opId: null, region: "auto", size: "", image: null, status: state, providerStatus: state, resources: instance.resources, addresses: {}, createdAt: null };
  }

  access(instance: AccessInstance): InstanceAccess {
    const { bucket, prefix } = instance.resources;
    return {
      api: this.#remote,
      createsHeld: false,
      readEnv: () => Promise.resolve({}),
      updateEnv: () => Promise.reject(new NotSupportedError("the bridge has no route to change a sandbox's environment", { hint: "set it in the Worker (wrangler secret put) and redeploy" })),
      // Held: the container stopped (nothing writes to the prefix any more). Released: woken, so
      // the Worker (or start()) mounts the prefix again and the image starts the agent.
      hold: async (held) => (held ? this.stop(instance) : this.start(instance)),
      route: () => undefined,
      ...(bucket && prefix ? { objectData: { storage: r2Settings(this.#deps.config, bucket), prefix } } : {}),
    };
  }

  async close(): Promise<void> {
    await Promise.all([this.#client.http.close(), this.#r2?.close()]);
  }
}

export function createProvider(deps: ProviderDeps): Provider {
  return new CloudflareSandboxProvider(deps);
}

