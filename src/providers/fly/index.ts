import { AutomnaError, ConflictError, ProviderApiError, UsageError } from "../../lib/errors.js";
import { mayHaveCommitted } from "../../lib/http.js";
import { Secret } from "../../lib/redact.js";
import { RateBudget } from "../../lib/rate-budget.js";
import type { InstanceStatus } from "../../state/types.js";
import { providerCatalog } from "../catalog.js";
import { catalogBilling } from "../plan.js";
import { apiBinding, makeHttp, type ProviderDeps } from "../deps.js";
import type { HttpClient } from "../../lib/http.js";
import type {
  AccessInstance, AgentEnvChange, BillingItem, CredentialCheck, InstanceAccess, Provider, ProviderInstance, ProviderRemote, ProvisionHooks, ProvisionResult, ProvisionSpec, RegionInfo, SizeInfo,
} from "../types.js";
import type { ApiBinding } from "../binding.js";
import { resourceName } from "../types.js";
import { FlyClient, parseFlyError, type FGuest, type FMachine } from "./client.js";
import { volumeGb } from "../manifest.js";
import { fly } from "./manifest.js";
import { FlyImport } from "./import.js";
import { FlyRemote } from "./remote.js";

/**
 * Fly's documented limits are per action per machine or app: 1 request/s with bursts of 3;
 * reading a machine allows 5/s with bursts of 10; app deletions 100 per minute. Org-wide lists
 * (apps, machines) are neither per machine nor per app and have no documented limit: they are
 * paced like the documented read (5/s, bursts of 10), so the pages of a 10,000-user org (ten of
 * each) go out at once while a runaway loop still could not hammer the API.
 */
export const FLY_BUDGET = {
  global: [],
  keyed: (key: string) =>
    key.startsWith("get_machine:") || key.startsWith("list_apps:") || key.startsWith("list_org_machines:") ? { capacity: 10, perSecond: 5 }
      : key === "delete_app" ? { capacity: 100, perSecond: 100 / 60 }
        : { capacity: 3, perSecond: 1 },
};
const VOLUME_NAME = "automna_data";
/**
 * A held machine runs this instead of the image's agent: /data stays mounted and exec works, but
 * nothing serves or connects out. Plain sh, so any image with a shell can be held.
 */
export const HOLD_EXEC = ["/bin/sh", "-c", "trap 'exit 0' TERM INT; while :; do sleep 3600 & wait $!; done"];
const HELD = "automna_held";
const STATUS: Record<string, InstanceStatus> = {
  created: "starting", starting: "starting", started: "running", stopping: "stopped", stopped: "stopped", suspending: "stopped",
  suspended: "stopped", replacing: "starting", updating: "starting", destroying: "deleting", destroyed: "deleting", failed: "failed",
};

/** `shared-cpu-1x-2gb` <-> `{cpu_kind: shared, cpus: 1, memory_mb: 2048}`. */
export function flyGuest(size: string): FGuest | undefined {
  const m = /^(shared|performance)-cpu-(\d+)x-(\d+)(mb|gb)$/.exec(size);
  if (!m) return undefined;
  return { cpu_kind: m[1]!, cpus: Number(m[2]), memory_mb: Number(m[3]) * (m[4] === "gb" ? 1024 : 1) };
}

export function flySizeName(guest: FGuest | undefined): string {
  if (!guest) return "";
  const mem = guest.memory_mb % 1024 === 0 ? `${guest.memory_mb / 1024}gb` : `${guest.memory_mb}mb`;
  return `${guest.cpu_kind}-cpu-${guest.cpus}x-${mem}`;
}

export function toInstance(app: string, m: FMachine): ProviderInstance {
  const meta = m.config?.metadata ?? {};
  const volume = m.config?.mounts?.find((x) => x.path === "/data")?.volume ?? m.config?.mounts?.[0]?.volume;
  return {
    provider: "fly",
    user: meta.automna_user ?? app.replace(/^automna-/, ""),
    opId: meta.automna_op ?? null,
    region: m.region,
    size: flySizeName(m.config?.guest),
    image: m.config?.image ?? null,
    status: STATUS[m.state] ?? "unknown",
    providerStatus: m.state,
    resources: { app, machine: m.id, ...(volume ? { volume } : {}) },
    addresses: m.private_ip ? { private: m.private_ip } : {},
    createdAt: m.created_at ?? null,
  };
}

class FlyProvider implements Provider {
  readonly id = "fly" as const;
  readonly title = "Fly.io";
  readonly capabilities = fly.capabilities;
  readonly reach = fly.reach;
  readonly #deps: ProviderDeps;
  readonly #client: FlyClient;
  readonly #org: string;
  readonly #remote: ProviderRemote;
  readonly importer: FlyImport;
  #logsHttp: HttpClient | undefined;

  constructor(deps: ProviderDeps) {
    this.#deps = deps;
    this.#client = new FlyClient(makeHttp(deps, parseFlyError, new RateBudget(FLY_BUDGET, deps.rateScale)));
    this.#org = deps.config.getString("fly.org") ?? "personal";
    this.importer = new FlyImport(this.#client, this.#org);
    // The logs API is another host than the Machines API, with no documented per-machine budget.
    this.#remote = new FlyRemote(this.#client, () => (this.#logsHttp ??= makeHttp({ ...deps, info: { ...deps.info, urlKey: "fly.logsUrl" } }, parseFlyError, new RateBudget({ global: [] }, deps.rateScale))));
  }

  /** Everything automna makes lives in the organization `fly.org`: that is the account. */
  api(): Promise<ApiBinding> {
    return Promise.resolve(apiBinding(this.#deps, this.#org));
  }

  async checkCredentials(): Promise<CredentialCheck> {
    try {
      await this.#client.http.get("/v1/apps", { query: { org_slug: this.#org, limit: 1 }, budgetKey: `list_apps:${this.#org}` });
      return { ok: true, account: this.#org };
    } catch (error) {
      if (error instanceof AutomnaError) return { ok: false, reason: error.message };
      throw error;
    }
  }

  async regions(): Promise<RegionInfo[]> {
    return (await this.#client.regions()).map((r) => ({ name: r.code, description: r.name, available: r.deprecated !== true }));
  }

  async sizes(): Promise<SizeInfo[]> {
    return (await providerCatalog("fly")).sizes.map((s) => ({
      name: s.name, vcpus: s.vcpus, memoryMb: s.memoryMb, diskGb: null, regions: [], hourlyPrice: s.hourly, monthlyPrice: s.monthly, currency: "USD", source: "catalog" as const,
    }));
  }

  #volumeGb(): number {
    return volumeGb(this.#deps.config.getNumber("fly.volumeGb"));
  }

  /** Fly publishes no prices: the catalog's, exactly as a dry run without a token prices it. */
  async billing(size: string): Promise<BillingItem[]> {
    return catalogBilling(this.#deps.info, size, this.#deps.config);
  }


  /** The app is the user's isolation boundary: created once, reused when it already exists in our org. */
  async #ensureApp(app: string): Promise<boolean> {
    try {
      await this.#client.createApp(app, this.#org);
      return true;
    } catch (error) {
      const taken = error instanceof ProviderApiError && (error.providerCode === "name_taken" || error.status === 422 || error.status === 409);
      if (!taken && !mayHaveCommitted(error)) throw error;
      const existing = await this.#client.app(app);
      if (!existing) {
        if (taken) throw new ConflictError(`the Fly app name ${app} is taken by another organization`, { hint: "pick another user id" });
        throw error;
      }
      if (existing.organization?.slug && existing.organization.slug !== this.#org) {
        throw new ConflictError(`the Fly app ${app} belongs to organization ${existing.organization.slug}, not ${this.#org}`, { hint: "set fly.org" });
      }
      return false;
    }
  }

  async provision(spec: ProvisionSpec, hooks: ProvisionHooks = {}): Promise<ProvisionResult> {
    const guest = flyGuest(spec.size);
    if (!guest) throw new UsageError(`unknown Fly size "${spec.size}"`, { hint: `sizes: ${(await providerCatalog("fly")).sizes.map((s) => s.name).join(", ")}` });
    const app = resourceName(spec.user);
    hooks.step?.(`creating app ${app}`);
    const fresh = await this.#ensureApp(app);
    if (Object.keys(spec.secrets).length) {
      hooks.step?.("setting secrets");
      await this.#client.setSecrets(app, Object.fromEntries(Object.entries(spec.secrets).map(([k, v]) => [k, v.reveal()])));
    }
    const billing = await this.billing(spec.size);
    // A re-run (or a crash after the app was made) adopts the machine an earlier attempt created.
    let machine = fresh ? undefined : (await this.#client.machines(app, { automna_op: spec.opId }))[0];
    let adopted = machine !== undefined;
    if (!machine) {
      const volume = await this.#ensureVolume(app, spec.region, fresh, hooks);
      await hooks.created?.({ resources: { app, volume }, addresses: {} });
      hooks.step?.("creating machine");
      ({ machine, adopted } = await this.#createMachine(app, volume, spec, guest));
    }
    const created = toInstance(app, machine);
    await hooks.created?.({ resources: created.resources, addresses: created.addresses });
    if (spec.noWait) return { instance: created, adopted, billing };
    hooks.step?.("waiting for the machine to start");
    return { instance: await this.wait(created, "running"), adopted, billing };
  }

  async #ensureVolume(app: string, region: string, fresh: boolean, hooks: ProvisionHooks): Promise<string> {
    const free = async (): Promise<string | undefined> =>
      (await this.#client.volumes(app)).find((v) => v.name === VOLUME_NAME && !v.attached_machine_id && v.region === region && v.state !== "destroyed")?.id;
    if (!fresh) {
      const existing = await free();
      if (existing) return existing;
    }
    hooks.step?.("creating volume");
    try {
      return (await this.#client.createVolume(app, { name: VOLUME_NAME, region, size_gb: this.#volumeGb(), encrypted: true })).id;
    } catch (error) {
      if (!mayHaveCommitted(error)) throw error;
      const made = await free();
      if (made) return made;
      return (await this.#client.createVolume(app, { name: VOLUME_NAME, region, size_gb: this.#volumeGb(), encrypted: true })).id;
    }
  }

  async #createMachine(app: string, volume: string, spec: ProvisionSpec, guest: FGuest): Promise<{ machine: FMachine; adopted: boolean }> {
    const body = {
      name: app,
      region: spec.region,
      config: {
        image: spec.image,
        env: spec.env,
        guest,
        // Always on: restart always, and no services, so Fly's proxy never auto-stops it.
        restart: { policy: "always" },
        auto_destroy: false,
        mounts: [{ volume, path: "/data" }],
        metadata: { automna_managed: "true", automna_user: spec.user, automna_op: spec.opId, ...(spec.hold ? { [HELD]: "true" } : {}) },
        ...(spec.hold ? { init: { exec: HOLD_EXEC } } : {}),
        checks: { health: { type: "http", port: spec.health.port, path: spec.health.path, interval: "15s", timeout: "5s" } },
      },
    };
    for (let attempt = 1; ; attempt++) {
      try {
        return { machine: await this.#client.createMachine(app, body), adopted: false };
      } catch (error) {
        if (!mayHaveCommitted(error)) throw error;
        // The answer was lost: the op marker says whether the machine was made, before any second POST.
        const made = (await this.#client.machines(app, { automna_op: spec.opId }))[0];
        if (made) return { machine: made, adopted: true };
        if (attempt >= 2) throw error;
      }
    }
  }

  async get(user: string): Promise<ProviderInstance | undefined> {
    const app = resourceName(user);
    if (!(await this.#client.app(app))) return this.#imported(user);
    const machines = await this.#client.machines(app, { automna_managed: "true" });
    return machines[0] ? toInstance(app, machines[0]) : this.#bareApp(app);
  }

  /** A user's app imported under another name than automna's: found by its machine's markers. */
  async #imported(user: string): Promise<ProviderInstance | undefined> {
    const m = (await this.#client.orgMachines(this.#org)).find((x) => x.config?.metadata?.automna_managed === "true" && x.config.metadata.automna_user === user && x.state !== "destroyed");
    if (!m) return undefined;
    const full = await this.#client.machine(m.app_name, m.id);
    return full ? toInstance(m.app_name, full) : undefined;
  }

  /** An automna app without a machine (a half-made or half-removed instance). */
  #bareApp(app: string): ProviderInstance {
    return {
      provider: "fly", user: app.replace(/^automna-/, ""), opId: null, region: "", size: "", image: null, status: "failed",
      providerStatus: "no machine", resources: { app }, addresses: {}, createdAt: null,
    };
  }

  /**
   * Every automna app of the org with its machine: two paged lists (apps, and the org's
   * machines) rather than one request per app, so 10,000 users cost about 20 requests. An app
   * the org list shows no machine for, though the app says it has some, is asked directly: the
   * org list is "a point in time" and may lag a machine just created.
   */
  async list(): Promise<ProviderInstance[]> {
    const [apps, machines] = await Promise.all([this.#client.apps(this.#org), this.#client.orgMachines(this.#org)]);
    const byApp = new Map<string, FMachine[]>();
    for (const m of machines) {
      if (m.config?.metadata?.automna_managed !== "true") continue;
      const list = byApp.get(m.app_name);
      if (list) list.push(m);
      else byApp.set(m.app_name, [m]);
    }
    // automna's own apps by name; an imported app keeps its name and is automna's by its machine's markers.
    const ours = apps.filter((a) => a.name.startsWith("automna-") || byApp.has(a.name));
    const out: ProviderInstance[] = [];
    const lagging: string[] = [];
    for (const app of ours) {
      const found = byApp.get(app.name);
      if (found) for (const m of found) out.push(toInstance(app.name, m));
      else if ((app.machine_count ?? 0) > 0) lagging.push(app.name);
      else out.push(this.#bareApp(app.name));
    }
    // Each app's list has its own rate bucket, so these go out concurrently.
    let next = 0;
    const worker = async (): Promise<void> => {
      while (next < lagging.length) {
        const app = lagging[next++]!;
        const found = await this.#client.machines(app, { automna_managed: "true" });
        if (found.length === 0) out.push(this.#bareApp(app));
        for (const m of found) out.push(toInstance(app, m));
      }
    };
    await Promise.all(Array.from({ length: Math.min(16, lagging.length) }, worker));
    return out.sort((a, b) => a.user.localeCompare(b.user));
  }

  async findByMarker(opId: string): Promise<ProviderInstance | undefined> {
    return (await this.list()).find((i) => i.opId === opId);
  }

  /** The machine and its config, which the env and hold changes rewrite; a machine gone is not_found. */
  async #configured(app: string, machine: string): Promise<FMachine & { config: NonNullable<FMachine["config"]> }> {
    const current = await this.#client.machine(app, machine);
    if (!current?.config) throw new AutomnaError(`Fly machine ${machine} no longer exists`, { code: "not_found" });
    return { ...current, config: current.config };
  }

  /**
   * Holds or releases the agent by replacing the machine's init: held, it runs HOLD_EXEC (the
   * volume stays mounted, exec works, the agent is not running); released, the image's own
   * command again. Fly restarts the machine on an update; this waits until it has started.
   * A machine already in the wanted mode is left alone.
   */
  async #hold(instance: Pick<ProviderInstance, "resources">, held: boolean): Promise<void> {
    const { app, machine } = ids(instance);
    const current = await this.#configured(app, machine);
    const isHeld = current.config.metadata?.[HELD] === "true";
    if (isHeld !== held) {
      const { init, metadata, ...rest } = current.config;
      const { exec: _exec, ...otherInit } = init ?? {};
      const { [HELD]: _held, ...otherMeta } = metadata ?? {};
      const config: Record<string, unknown> = {
        ...rest,
        metadata: held ? { ...otherMeta, [HELD]: "true" } : otherMeta,
        ...(held ? { init: { ...otherInit, exec: HOLD_EXEC } } : Object.keys(otherInit).length ? { init: otherInit } : {}),
      };
      const updated = await this.#client.updateMachine(app, machine, { config, region: current.region });
      await this.#waitVersion(app, machine, updated.version);
      return;
    }
    if (current.state !== "started") await this.wait(instance, "running");
  }

  /** The machine's plain env and the app's secrets (values read back: the token must allow it). */
  async #readEnv(instance: Pick<ProviderInstance, "resources">): Promise<Record<string, Secret>> {
    const { app, machine } = ids(instance);
    const [current, secrets] = await Promise.all([this.#configured(app, machine), this.#client.secrets(app, true)]);
    const env = (current.config.env ?? {}) as Record<string, unknown>;
    const out: Record<string, Secret> = {};
    for (const [k, v] of Object.entries(env)) if (typeof v === "string") out[k] = new Secret(v);
    const hidden = secrets.filter((s) => typeof s.value !== "string").map((s) => s.name);
    if (hidden.length) {
      throw new AutomnaError(`Fly did not reveal the values of ${app}'s secrets ${hidden.join(", ")}`, {
        code: "secrets_hidden", hint: "the migration carries the agent's secrets; use a Fly token allowed to read them (an org token, not a deploy token)",
      });
    }
    for (const s of secrets) out[s.name] = new Secret(s.value!);
    return out;
  }

  /**
   * Values go in as app secrets (a plain machine env variable of the same name is dropped, so
   * one value remains); removed names leave both. Fly gives a machine its secrets when it starts:
   * with `restart` the machine is updated (restarted) even when only secrets changed.
   */
  async #updateEnv(instance: Pick<ProviderInstance, "resources">, change: AgentEnvChange, restart: boolean): Promise<boolean> {
    const { app, machine } = ids(instance);
    const [current, secrets] = await Promise.all([this.#configured(app, machine), this.#client.secrets(app, false)]);
    const names = Object.keys(change.set);
    if (names.length) await this.#client.setSecrets(app, Object.fromEntries(names.map((k) => [k, change.set[k]!.reveal()])));
    const gone = change.unset.filter((n) => secrets.some((s) => s.name === n));
    for (const name of gone) await this.#client.deleteSecret(app, name);
    const env = { ...((current.config.env ?? {}) as Record<string, string>) };
    const dropped = [...names, ...change.unset].filter((k) => k in env);
    for (const k of dropped) delete env[k];
    const changed = names.length > 0 || gone.length > 0 || dropped.length > 0;
    if (changed && (restart || dropped.length)) {
      const updated = await this.#client.updateMachine(app, machine, { config: { ...current.config, env }, region: current.region });
      await this.#waitVersion(app, machine, updated.version);
    }
    return changed;
  }

  /** Until the machine runs the given config version (an update replaces it and starts it again). */
  async #waitVersion(app: string, machine: string, version: string | undefined, timeoutMs = 300_000): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const m = await this.#client.machine(app, machine);
      if (!m) throw new AutomnaError(`Fly machine ${machine} no longer exists`, { code: "not_found" });
      if (m.state === "started" && (version === undefined || m.version === version)) return;
      if (m.state === "failed" || m.state === "destroyed") throw new AutomnaError(`Fly machine ${machine} is ${m.state}`, { code: "machine_failed" });
      const left = Math.ceil((deadline - Date.now()) / 1000);
      if (left <= 0) throw new AutomnaError(`Fly machine ${machine} did not restart with its new config within ${Math.round(timeoutMs / 1000)} s`, { code: "timeout" });
      // Still started on the old version: the replacement has not begun; look again shortly.
      if (m.state === "started") await new Promise((resolve) => setTimeout(resolve, this.#deps.pollMs ?? 100));
      else await this.#client.wait(app, machine, "started", Math.min(60, left));
    }
  }

  /**
   * A machine through Fly's APIs: exec, logs and `flyctl ssh console`; env as machine env and app
   * secrets; held by replacing its init (created held when asked); a user's name points at the
   * app's own hostname (Fly routes it to the machine).
   */
  access(instance: AccessInstance): InstanceAccess {
    return {
      api: this.#remote,
      createsHeld: true,
      readEnv: () => this.#readEnv(instance),
      updateEnv: (change, _run, options) => this.#updateEnv(instance, change, options.restart),
      hold: (held) => this.#hold(instance, held),
      route: () => (instance.resources.app ? { hostname: `${instance.resources.app}.fly.dev` } : undefined),
    };
  }

  async start(instance: Pick<ProviderInstance, "resources">): Promise<void> {
    const { app, machine } = ids(instance);
    await this.#client.machineAction(app, machine, "start");
  }

  async stop(instance: Pick<ProviderInstance, "resources">): Promise<void> {
    const { app, machine } = ids(instance);
    await this.#client.machineAction(app, machine, "stop");
  }

  async destroy(instance: Pick<ProviderInstance, "resources" | "user">): Promise<string[]> {
    const app = instance.resources.app ?? resourceName(instance.user);
    const removed: string[] = [];
    // Machine first (it holds the volume), then the volume, then the app.
    if (instance.resources.machine && (await this.#client.deleteMachine(app, instance.resources.machine))) {
      removed.push(`machine ${instance.resources.machine}`);
      await this.#waitGone(app, instance.resources.machine);
    }
    const volumes = instance.resources.volume ? [instance.resources.volume] : [];
    if (await this.#client.app(app)) {
      for (const v of await this.#client.volumes(app)) if (!volumes.includes(v.id)) volumes.push(v.id);
    }
    for (const v of volumes) if (await this.#client.deleteVolume(app, v)) removed.push(`volume ${v}`);
    if (await this.#client.deleteApp(app)) removed.push(`app ${app}`);
    return removed;
  }

  async #waitGone(app: string, machine: string): Promise<void> {
    for (let i = 0; i < 10; i++) {
      const state = await this.#client.wait(app, machine, "destroyed", 60);
      if (state !== "timeout") return;
    }
  }

  /** `/wait` blocks at most 60 s server-side and answers 408 then: loop until the deadline. */
  async wait(instance: Pick<ProviderInstance, "resources">, state: "running" | "stopped", timeoutMs = 600_000): Promise<ProviderInstance> {
    const { app, machine } = ids(instance);
    const want = state === "running" ? "started" : "stopped";
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const current = await this.#client.machine(app, machine);
      if (!current) throw new AutomnaError(`Fly machine ${machine} no longer exists`, { code: "not_found" });
      if (current.state === want) return toInstance(app, current);
      if (current.state === "failed" || current.state === "destroyed") {
        throw new AutomnaError(`Fly machine ${machine} is ${current.state}`, { code: "machine_failed" });
      }
      const left = Math.ceil((deadline - Date.now()) / 1000);
      if (left <= 0) throw new AutomnaError(`Fly machine ${machine} is still ${current.state} after ${Math.round(timeoutMs / 1000)} s`, { code: "timeout" });
      await this.#client.wait(app, machine, want, Math.min(60, left), want === "stopped" ? current.version ?? current.instance_id : undefined);
    }
  }

  async close(): Promise<void> {
    await this.#client.http.close();
    await this.#logsHttp?.close();
  }
}

function ids(instance: Pick<ProviderInstance, "resources">): { app: string; machine: string } {
  const { app, machine } = instance.resources;
  if (!app || !machine) throw new AutomnaError("the instance has no Fly app and machine ids", { code: "not_found" });
  return { app, machine };
}

export function createProvider(deps: ProviderDeps): Provider {
  return new FlyProvider(deps);
}
