import type { Server } from "node:http";
import { join, resolve } from "node:path";
import { createAdminServer, listenAdmin } from "./admin.js";
import { createEvents, type SandboxEnv } from "./env.js";
import { Faults, validateFaultSpec, type FaultSpec } from "./faults.js";
import type { AgentOptions, HostHandle } from "./host/index.js";
import { HealthAgent, Hosts, type HostModule } from "./hosts.js";
import { ApiServer, type RequestRecord, type Route } from "./http.js";
import { startCloudflareSandbox, type CloudflareSandboxHandle } from "./cloudflare.js";
import { SANDBOX_BUCKET, SANDBOX_ZONE, sandboxCredentials } from "./credentials.js";
import { startS3Sandbox, type S3SandboxHandle } from "./s3.js";
import type { S3Limits } from "./s3-uploads.js";
import { SimHosts } from "./sim-hosts.js";
import type { StandIn } from "./stand-in.js";
import { acquireLock, prepareDir, resolveToken } from "./store.js";
import { Timeline } from "./timeline.js";
import type { SandboxProvider } from "./util.js";
import { closeServer, hashNumber } from "./util.js";
import { World } from "./world.js";
import { MANIFESTS } from "../providers/manifests.js";
import { providerEnv } from "./settings.js";

export type { FaultKind, FaultRule, FaultSpec } from "./faults.js";
export type { HostModule, SimHost } from "./hosts.js";
export type { Hosts } from "./hosts.js";
export type { SandboxProvider } from "./util.js";

export interface SandboxOptions {
  /** World directory (persisted state lives here). */
  dir: string;
  /** Default "127.0.0.1". */
  host?: string;
  /** 0 or omitted = ephemeral. */
  ports?: Partial<Record<SandboxProvider | "admin" | "s3" | "cloudflare", number>>;
  /** The bearer token every provider accepts; default: the one saved in `dir`, else random. */
  token?: string;
  /** How long async actions and state transitions take; default 300. */
  actionDelayMs?: number;
  /** Multiplies every documented budget's refill speed; default 1. */
  rateLimitScale?: number;
  /** Default true. */
  rateLimits?: boolean;
  /** Per-server loopback addresses, default "127.77" -> 127.77.x.y. */
  addressBase?: string;
  /** Where each host's agent answers `GET /healthz`; default 8080. */
  healthPort?: number;
  /** Faults in force from the start. */
  faults?: FaultSpec;
  /** Per-provider resource limits: servers (Hetzner) or droplets (DigitalOcean) the account may have. */
  limits?: Partial<Record<"hetzner" | "digitalocean", number>>;
  /** Per-host services besides the built-in ones, up for every running host. */
  hostModules?: HostModule[];
  /** Cloudflare's API budget (default its real 1,200 requests per 5 minutes per token). */
  cloudflareRateLimit?: { limit: number; windowMs: number };
  /**
   * Default true: every running machine is a simulated host (SSH, agent with logs and data,
   * health endpoint, Fly exec). false: only a health endpoint per machine (cheap at 10,000).
   */
  simulatedHosts?: boolean;
  /** SSH port on each host's own address; default 22 as root, else 2222. */
  sshPort?: number;
  /** Simulated one-way network latency of the hosts' SSH connections (default 0: loopback). */
  sshLatencyMs?: number;
  /** How busy each host's simulated agent is (log and data-write intervals). */
  agent?: AgentOptions;
  /** Users to seed per provider whose stand-in can (`sandbox up --seed-cloudflare N`): made before automna knows them. */
  seed?: Partial<Record<SandboxProvider, number>>;
  /** The object store's upload limits, lowered so tests move a "large" archive in seconds (default S3's). */
  s3Limits?: Partial<S3Limits>;
}

/** The SSH port hosts use when none is given: 22 needs root. */
export function defaultSshPort(): number {
  return process.getuid?.() === 0 ? 22 : 2222;
}

/** One received request, for tests ("no second POST was sent"). */
export type SandboxRequest = RequestRecord;

export interface RunningSandbox {
  /** One per provider (its manifest's `sandbox.urlPath` appended: hetzner ends with /v1), cloudflare with /client/v4. */
  urls: Record<SandboxProvider | "admin" | "s3" | "cloudflare", string>;
  token: string;
  /**
   * Each provider's URL and token variables (AUTOMNA_HETZNER_URL, HCLOUD_TOKEN, ... and the
   * settings its manifest points at the stand-in, such as AUTOMNA_FLY_LOGS_URL),
   * AUTOMNA_STORAGE_* (the object store, bucket pre-created), CLOUDFLARE_API_TOKEN, AUTOMNA_CLOUDFLARE_URL, AUTOMNA_CLOUDFLARE_ZONE_ID, AUTOMNA_DNS_TEMPLATE.
   */
  env(): Record<string, string>;
  /** The S3-compatible object store (objects under `<dir>/s3`): its settings, request log and faults. */
  readonly s3: S3SandboxHandle;
  /** The Cloudflare DNS stand-in (records in `<dir>/cloudflare.json`): settings, request log, faults, records. */
  readonly cloudflare: CloudflareSandboxHandle;
  /** Every request received, oldest first. */
  requests(): SandboxRequest[];
  setFaults(faults: FaultSpec): void;
  /** Resolves when every host service start/stop in flight has finished (tests). */
  settled(): Promise<void>;
  /** Per-host services (the health agent is built in; SSH plugs in here). */
  readonly hosts: Hosts;
  /** The SSH port of every simulated host; null when the sandbox runs with health endpoints only. */
  sshPort: number | null;
  /** A machine's simulated host by `provider:id` (`hetzner:51000001`, `fly:<machine id>`). */
  simHost(key: string): HostHandle | undefined;
  /** The provider APIs' route tables (what each stand-in implements; see API.md). */
  routeTables(): Record<SandboxProvider, readonly Route[]>;
  /** What `seed` made, per provider: the mapping file for `automna import --from-file` and the user ids. */
  seeded: Partial<Record<SandboxProvider, { mapping: string; users: string[] }>>;
  /** Adds a line to a Fly machine's logs (what its agent printed), served by the logs API. */
  appendFlyLog(app: string, machineId: string, message: string): void;
  close(): Promise<void>;
}

/** Starts every provider's stand-in (src/providers/manifests.ts), the admin API and the simulated hosts of `dir`'s world. */
export async function startSandbox(options: SandboxOptions): Promise<RunningSandbox> {
  const dir = resolve(options.dir);
  const host = options.host ?? "127.0.0.1";
  prepareDir(dir);
  if (options.faults) {
    const problem = validateFaultSpec(options.faults);
    if (problem) throw new Error(problem);
  }
  const release = acquireLock(dir);
  const servers: ApiServer[] = [];
  let admin: Server | undefined;
  let hosts: Hosts | undefined;
  let timeline: Timeline | undefined;
  let s3: S3SandboxHandle | undefined;
  let cloudflare: CloudflareSandboxHandle | undefined;
  try {
    const token = resolveToken(dir, options.token);
    const base = options.addressBase ?? "127.77";
    if (!/^127\.\d{1,3}$/.test(base) || Number(base.split(".")[1]) > 255) throw new Error(`addressBase must look like 127.N, got "${base}"`);
    const world = World.load(dir, hashNumber(dir));
    const healthPort = options.healthPort ?? 8080;
    const factories = await Promise.all(MANIFESTS.map(async (m) => ({ manifest: m, make: await m.sandbox.load() })));
    // The hosts start before the stand-ins that know their machines exist; they ask them later.
    const standIns = new Map<SandboxProvider, StandIn>();
    const sshPort = options.simulatedHosts === false ? undefined : options.sshPort ?? defaultSshPort();
    const theHosts = new Hosts({ base, probePort: healthPort, extraProbePorts: sshPort === undefined ? [] : [sshPort], cursor: world.addressCursor, inUse: [], dir });
    hosts = theHosts;
    const warnings: string[] = [];
    const warn = (message: string): void => {
      warnings.push(message);
      if (warnings.length > 200) warnings.shift();
    };
    const faults = new Faults();
    if (options.faults) faults.set(options.faults);
    const sim = options.simulatedHosts === false ? undefined : new SimHosts({
      reachable: (h) => !faults.hostsDown(h.provider),
      sshPort: sshPort ?? defaultSshPort(), sshLatencyMs: options.sshLatencyMs, healthPort, agent: options.agent, warn,
      facts: (h) => standIns.get(h.provider)?.facts(h.id),
      // What an agent prints is what its provider's log API serves, where it has one.
      onLog: (h, entry) => standIns.get(h.provider)?.onLog?.(h.id, entry),
    });
    // The host's own health endpoint follows `docker stop`; the bare one answers whenever powered on.
    theHosts.modules.push(sim ?? new HealthAgent(healthPort, warn), ...(options.hostModules ?? []));
    world.beforeSave = () => {
      world.addressCursor = theHosts.cursor;
    };
    timeline = new Timeline(world);
    const env: SandboxEnv = {
      world, timeline, hosts: theHosts, delayMs: options.actionDelayMs ?? 300, rateScale: options.rateLimitScale ?? 1,
      rateLimits: options.rateLimits ?? true, events: createEvents(), warn, sim, limits: options.limits,
      secondAccountToken: sandboxCredentials(token).digitaloceanSecondAccountToken,
    };
    if (!(env.rateScale > 0)) throw new Error("rateLimitScale must be greater than 0");
    for (const f of factories) standIns.set(f.manifest.id, f.make(env));
    for (const standIn of standIns.values()) theHosts.reserve(standIn.addressesInUse());
    timeline.resume();
    for (const standIn of standIns.values()) standIn.resumeHosts();

    const log: RequestRecord[] = [];
    const ctx = { token, faults, log };
    const ports = options.ports ?? {};
    const urls = { admin: "", s3: "", cloudflare: "" } as RunningSandbox["urls"];
    for (const { manifest } of factories) {
      const server = new ApiServer(standIns.get(manifest.id)!, ctx);
      servers.push(server);
      urls[manifest.id] = `${await server.listen(host, ports[manifest.id] ?? 0)}${manifest.sandbox.urlPath}`;
    }
    // Object storage and DNS with credentials derived from the token, so a restart keeps them.
    const creds = sandboxCredentials(token);
    s3 = await startS3Sandbox({ dataDir: join(dir, "s3"), port: ports.s3 ?? 0, buckets: [SANDBOX_BUCKET], credentials: [creds.s3], limits: options.s3Limits });
    cloudflare = await startCloudflareSandbox({
      dataDir: dir, port: ports.cloudflare ?? 0, tokens: [creds.cloudflareToken], zones: [{ name: SANDBOX_ZONE }],
      ...(options.cloudflareRateLimit ? { rateLimit: options.cloudflareRateLimit } : {}),
    });
    urls.s3 = s3.url;
    urls.cloudflare = cloudflare.url;
    const seeded: RunningSandbox["seeded"] = {};
    for (const [id, count] of Object.entries(options.seed ?? {}) as [SandboxProvider, number][]) {
      const standIn = standIns.get(id);
      if (!standIn?.seed) throw new Error(`the ${id} stand-in cannot seed users`);
      if (count > 0) seeded[id] = await standIn.seed(count);
    }
    admin = createAdminServer({
      env, faults, log, warnings, urls: () => urls, cutOff: (provider) => sim?.cutOff(provider),
      reset: async () => {
        for (const h of theHosts.running()) await theHosts.destroy(h);
        timeline!.clear();
        world.reset();
      },
      standIns,
    });
    urls.admin = await listenAdmin(admin, host, ports.admin ?? 0);
    world.markDirty();
    await world.save();

    let closed: Promise<void> | undefined;
    const adminServer = admin;
    const s3Handle = s3;
    const cfHandle = cloudflare;
    return {
      urls,
      token,
      hosts: theHosts,
      env: () => ({ ...providerEnv(urls, token), ...s3Handle.env, ...cfHandle.env }),
      s3: s3Handle,
      cloudflare: cfHandle,
      seeded,
      requests: () => log.map((r) => ({ ...r })),
      setFaults: (spec) => {
        const problem = validateFaultSpec(spec);
        if (problem) throw new Error(problem);
        faults.set(spec);
        for (const rule of faults.outages()) sim?.cutOff(rule.provider!);
      },
      settled: () => theHosts.settle(),
      sshPort: sim ? sim.sshPort : null,
      simHost: (key) => sim?.handle(key),
      routeTables: () => Object.fromEntries([...standIns].map(([id, s]) => [id, s.routes])) as unknown as Record<SandboxProvider, readonly Route[]>,
      appendFlyLog: (app, machineId, message) => {
        const m = world.fly.machines.get(machineId);
        void import("./fly/logs.js").then(({ flyLog }) => flyLog(env, app, machineId, m?.region ?? "", message));
      },
      close: () => {
        closed ??= (async () => {
          await Promise.all([...servers.map((s) => s.close()), s3Handle.close(), cfHandle.close()]);
          await closeServer(adminServer);
          timeline!.close();
          await theHosts.close();
          world.markDirty();
          await world.save();
          release();
        })();
        return closed;
      },
    };
  } catch (error) {
    await Promise.all(servers.map((s) => s.close().catch(() => undefined)));
    admin?.close();
    await s3?.close().catch(() => undefined);
    await cloudflare?.close().catch(() => undefined);
    timeline?.close();
    await hosts?.close().catch(() => undefined);
    release();
    throw error;
  }
}
