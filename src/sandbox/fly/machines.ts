import { createHash } from "node:crypto";
import type { SandboxEnv } from "../env.js";
import { isReply, type ApiRequest, type Reply, type Route } from "../http.js";
import { isPlainObject, isStringMap, isoSeconds, randomAlnum, randomHex, ulid } from "../util.js";
import type { FlyApp, FlyMachine } from "../world-types.js";
import { findApp } from "./apps.js";
import { flyLog } from "./logs.js";
import { DEFAULT_REGION, REGIONS, badRequest, cursorPage, flyError, guestProblem } from "./common.js";

const WAIT_STATES = ["started", "stopped", "suspended", "destroyed", "failed", "settled"];
/** States a machine rests in; `settled` means any of them. */
const SETTLED = new Set(["created", "started", "stopped", "suspended", "failed", "destroyed"]);
const ADJECTIVES = ["quiet", "bold", "lively", "misty", "rapid", "silent", "sunny", "wild", "young", "calm"];
const NOUNS = ["river", "forest", "meadow", "thunder", "sky", "field", "smoke", "lake", "dawn", "frost"];

function imageRef(image: string): Record<string, unknown> {
  const [path, tag = "latest"] = image.split("@")[0]!.split(/:(?=[^/]+$)/) as [string, string?];
  const first = path.split("/")[0]!;
  const hasRegistry = path.includes("/") && (first.includes(".") || first.includes(":") || first === "localhost");
  const registry = hasRegistry ? first : "docker-hub-mirror.fly.io";
  let repository = hasRegistry ? path.slice(first.length + 1) : path;
  if (!hasRegistry && !repository.includes("/")) repository = `library/${repository}`;
  return { registry, repository, tag, digest: `sha256:${createHash("sha256").update(image).digest("hex")}`, labels: {} };
}

export function renderMachine(m: FlyMachine, summary = false): Record<string, unknown> {
  const base: Record<string, unknown> = {
    id: m.id, name: m.name, state: m.state, region: m.region, instance_id: m.version, version: m.version, private_ip: m.privateIp,
    image_ref: imageRef(String(m.config.image ?? "")), created_at: isoSeconds(m.created), updated_at: isoSeconds(m.updated),
  };
  if (summary) return base;
  return {
    ...base, config: m.config, events: [...m.events].reverse().map((e) => ({ ...e, request: {} })), checks: [], host_status: "ok", cordoned: false,
  };
}

export interface MachineHelpers {
  routes: Route[];
  /** Destroys a machine at once (app deletion, admin). */
  destroyNow(m: FlyMachine): void;
}

export function machineRoutes(env: SandboxEnv): MachineHelpers {
  const machines = env.world.fly.machines;
  const volumes = env.world.fly.volumes;
  const hostOf = (m: FlyMachine) => env.hosts.host("fly", m.id, m.name, m.privateIp);
  const event = (m: FlyMachine, type: string, status: string, source = "flyd"): void => {
    m.events.push({ id: ulid(), type, status, source, timestamp: Date.now() });
    if (m.events.length > 10) m.events.splice(0, m.events.length - 10);
    flyLog(env, m.app, m.id, m.region, `machine ${m.id} ${type}: ${status}`);
  };
  const setState = (m: FlyMachine, state: string): void => {
    m.state = state;
    m.updated = Date.now();
    const up = state === "started";
    if (m.agentUp !== up) {
      m.agentUp = up;
      if (state === "destroyed") void env.hosts.destroy(hostOf(m));
      else void env.hosts.set(hostOf(m), up);
    } else if (state === "destroyed") void env.hosts.destroy(hostOf(m));
    env.world.changed();
    env.events.emit(`change:fly:${m.id}`);
  };
  /** Moves the machine to `state` after `delay`, unless another command came first. */
  const later = (m: FlyMachine, state: string, delay: number): void => env.timeline.add("fly.machine", `${m.id}:${m.seq}:${state}`, delay);
  env.timeline.on("fly.machine", (ref) => {
    const [id, seq, state] = ref.split(":") as [string, string, string];
    const m = machines.get(id);
    if (!m || String(m.seq) !== seq || m.state === "destroyed") return;
    if (state === "started") event(m, "start", "started");
    if (state === "stopped") event(m, "exit", "stopped");
    if (state === "destroyed") {
      event(m, "destroy", "destroyed");
      for (const v of volumes.values()) if (v.attachedMachineId === m.id) v.attachedMachineId = null;
    }
    setState(m, state);
  });
  const command = (m: FlyMachine): void => {
    m.seq++;
  };
  const boot = (m: FlyMachine): void => {
    command(m);
    setState(m, "starting");
    later(m, "started", env.delayMs);
  };

  const find = (req: ApiRequest, app: FlyApp): FlyMachine | Reply => {
    const m = machines.get(req.params.id!);
    return m && m.app === app.name ? m : flyError(404, "machine not found");
  };
  const withMachine = (fn: (req: ApiRequest, app: FlyApp, m: FlyMachine) => Reply | Promise<Reply>) => (req: ApiRequest): Reply | Promise<Reply> => {
    const app = findApp(env, req);
    if (isReply(app)) return app;
    const m = find(req, app);
    return isReply(m) ? m : fn(req, app, m);
  };

  /** Validates a create/update body and returns the full config, or an error. */
  const buildConfig = (app: FlyApp, b: Record<string, unknown>, current: FlyMachine | null): { config: Record<string, unknown>; region: string } | Reply => {
    if (!isPlainObject(b.config)) return badRequest("config is required");
    const config = structuredClone(b.config);
    if (typeof config.image !== "string" || config.image === "") return badRequest("invalid config.image: an image is required");
    const guest = config.guest === undefined ? { cpu_kind: "shared", cpus: 1, memory_mb: 256 } : config.guest;
    if (!isPlainObject(guest)) return badRequest("invalid config.guest");
    const problem = guestProblem(guest);
    if (problem) return badRequest(problem);
    config.guest = guest;
    if (config.metadata !== undefined && !isStringMap(config.metadata)) return badRequest("invalid config.metadata: values must be strings");
    if (config.env !== undefined && !isStringMap(config.env)) return badRequest("invalid config.env: values must be strings");
    const restart = config.restart ?? { policy: "on-failure", max_retries: 10 };
    if (!isPlainObject(restart) || !["no", "always", "on-failure"].includes(String(restart.policy))) return badRequest("invalid config.restart.policy: must be no, always or on-failure");
    config.restart = restart;
    let region = b.region ?? current?.region;
    if (region !== undefined && (typeof region !== "string" || !REGIONS.has(region))) return badRequest(`region ${String(region)} not found`);
    const mounts = config.mounts ?? [];
    if (!Array.isArray(mounts)) return badRequest("invalid config.mounts");
    if (mounts.length > 1) return badRequest("a machine can mount at most one volume");
    for (const mount of mounts) {
      if (!isPlainObject(mount) || typeof mount.volume !== "string" || typeof mount.path !== "string" || !mount.path.startsWith("/")) return badRequest("invalid config.mounts: each needs a volume id and an absolute path");
      const v = volumes.get(mount.volume);
      if (!v || v.app !== app.name) return flyError(404, `volume ${mount.volume} not found`);
      if (v.attachedMachineId && v.attachedMachineId !== current?.id) return badRequest(`volume ${v.id} is already attached to machine ${v.attachedMachineId}`);
      region ??= v.region;
      if (v.region !== region) return badRequest(`volume ${v.id} is in region ${v.region}, not ${String(region)}`);
      Object.assign(mount, { name: v.name, size_gb: v.sizeGb, encrypted: v.encrypted });
    }
    config.mounts = mounts;
    return { config, region: (region as string | undefined) ?? DEFAULT_REGION };
  };
  const attach = (m: FlyMachine): void => {
    for (const v of volumes.values()) if (v.attachedMachineId === m.id) v.attachedMachineId = null;
    for (const mount of m.config.mounts as { volume: string }[]) {
      const v = volumes.get(mount.volume);
      if (v) v.attachedMachineId = m.id;
    }
  };

  const create = async (req: ApiRequest): Promise<Reply> => {
    const app = findApp(env, req);
    if (isReply(app)) return app;
    const b = req.body;
    if (!isPlainObject(b)) return badRequest("invalid request body");
    const built = buildConfig(app, b, null);
    if (isReply(built)) return built;
    if (b.name !== undefined && (typeof b.name !== "string" || !/^[a-zA-Z0-9][a-zA-Z0-9-]{0,62}$/.test(b.name))) return badRequest("invalid name");
    const name = (b.name as string | undefined) ?? `${ADJECTIVES[Math.floor(Math.random() * 10)]}-${NOUNS[Math.floor(Math.random() * 10)]}-${randomAlnum(4, "0123456789")}`;
    for (const other of machines.values()) if (other.app === app.name && other.name === name && other.state !== "destroyed") return flyError(409, `a machine named ${name} already exists`);
    const address = await env.hosts.allocate();
    const now = Date.now();
    const m: FlyMachine = {
      id: randomHex(14), app: app.name, name, region: built.region, state: "created", version: ulid(now), config: built.config, privateIp: address,
      created: now, updated: now, events: [], agentUp: false, seq: 0,
    };
    event(m, "launch", "created", "user");
    machines.set(m.id, m);
    attach(m);
    if (b.skip_launch === true) later(m, "stopped", env.delayMs / 2);
    else {
      env.timeline.add("fly.machine", `${m.id}:0:starting`, env.delayMs / 2);
      later(m, "started", env.delayMs);
    }
    env.world.changed();
    return { status: 200, body: renderMachine(m) };
  };

  const list = (req: ApiRequest): Reply => {
    const app = findApp(env, req);
    if (isReply(app)) return app;
    const q = req.query;
    const includeDeleted = q.get("include_deleted") === "true";
    const region = q.get("region");
    const states = q.get("state")?.split(",").filter(Boolean) ?? [];
    const meta: [string, string][] = [];
    for (const [k, v] of q) if (k.startsWith("metadata.")) meta.push([k.slice("metadata.".length), v]);
    const items = [...machines.values()].filter((m) => {
      if (m.app !== app.name || (!includeDeleted && m.state === "destroyed")) return false;
      if (region !== null && m.region !== region) return false;
      if (states.length && !states.includes(m.state)) return false;
      const md = (m.config.metadata ?? {}) as Record<string, string>;
      return meta.every(([k, v]) => md[k] === v);
    });
    const page = cursorPage(items, q, 1000, (m) => ({ t: m.created, id: m.id }));
    if (isReply(page)) return page;
    const summary = q.get("summary") === "true";
    return { status: 200, headers: page.next ? { "fly-next-cursor": page.next } : {}, body: page.items.map((m) => renderMachine(m, summary)) };
  };

  const update = withMachine((req, app, m) => {
    const b = req.body;
    if (!isPlainObject(b)) return badRequest("invalid request body");
    if (m.state === "destroyed" || m.state === "destroying") return flyError(412, "machine is being destroyed");
    if (b.current_version !== undefined && b.current_version !== m.version) return flyError(409, `machine version ${String(b.current_version)} is not the current version ${m.version}`);
    const built = buildConfig(app, b, m);
    if (isReply(built)) return built;
    if (built.region !== m.region) return badRequest("a machine cannot change region; create a new one");
    m.config = built.config;
    if (typeof b.name === "string") m.name = b.name;
    m.version = ulid();
    attach(m);
    event(m, "update", "replacing", "user");
    if (b.skip_launch === true) {
      command(m);
      setState(m, m.state === "started" || m.state === "starting" ? "stopped" : m.state);
    } else boot(m);
    return { status: 200, body: renderMachine(m) };
  });

  const start = withMachine((_req, _app, m) => {
    const previous = m.state;
    if (m.state === "destroyed" || m.state === "destroying") return flyError(412, `unable to start machine from current state: '${m.state}'`);
    if (m.state !== "started" && m.state !== "starting") {
      event(m, "start", "starting", "user");
      boot(m);
    }
    return { status: 200, body: { previous_state: previous, migrated: false, new_host: "" } };
  });

  const stop = withMachine((req, _app, m) => {
    const b = req.body;
    if (b !== undefined && !isPlainObject(b)) return badRequest("invalid request body");
    if (m.state === "destroyed" || m.state === "destroying") return flyError(412, `unable to stop machine from current state: '${m.state}'`);
    if (m.state === "started" || m.state === "starting" || m.state === "created") {
      event(m, "stop", "stopping", "user");
      command(m);
      setState(m, "stopping");
      later(m, "stopped", env.delayMs);
    }
    return { status: 200, body: { ok: true } };
  });

  const remove = withMachine((req, _app, m) => {
    if (m.state === "destroyed") return flyError(404, "machine not found");
    const force = req.query.get("force") === "true";
    if (!force && ["started", "starting", "stopping", "replacing"].includes(m.state)) {
      return flyError(412, `failed_precondition: unable to destroy machine, not currently stopped or suspended (state: ${m.state}); stop it first or pass force=true`);
    }
    event(m, "destroy", "destroying", "user");
    command(m);
    setState(m, "destroying");
    later(m, "destroyed", env.delayMs);
    return { status: 200, body: { ok: true } };
  });

  const wait = withMachine(async (req, _app, m) => {
    const q = req.query;
    const wanted = q.getAll("state").flatMap((s) => s.split(",")).filter(Boolean);
    if (wanted.length === 0) wanted.push("started");
    const bad = wanted.find((s) => !WAIT_STATES.includes(s));
    if (bad) return badRequest(`invalid state "${bad}": must be one of ${WAIT_STATES.join(", ")}`);
    const version = q.get("version") ?? q.get("instance_id");
    if (wanted.includes("stopped") && !version) return badRequest("version is required when waiting for the stopped state");
    const rawTimeout = q.get("timeout");
    let seconds = 60;
    if (rawTimeout !== null) {
      const match = /^(\d+)(s)?$/.exec(rawTimeout);
      if (!match) return badRequest("timeout must be a number of seconds");
      seconds = Math.min(60, Number(match[1]));
    }
    const reached = (): string | null => {
      if (version && version !== m.version && (wanted.includes("stopped") || wanted.includes("destroyed"))) return wanted.includes("stopped") ? "stopped" : "destroyed";
      if (wanted.includes(m.state)) return m.state;
      if (wanted.includes("settled") && SETTLED.has(m.state)) return m.state;
      return null;
    };
    const ok = (state: string): Reply => ({ status: 200, body: { ok: true, state, version: m.version, event_id: m.events.at(-1)?.id ?? "" } });
    const now = reached();
    if (now) return ok(now);
    const state = await new Promise<string | null>((resolve) => {
      const key = `change:fly:${m.id}`;
      const done = (value: string | null): void => {
        clearTimeout(timer);
        env.events.off(key, check);
        resolve(value);
      };
      const check = (): void => {
        const s = reached();
        if (s) done(s);
      };
      const timer = setTimeout(() => done(null), seconds * 1000);
      env.events.on(key, check);
      req.signal.addEventListener("abort", () => done(null), { once: true });
    });
    if (state) return ok(state);
    return flyError(408, `deadline_exceeded: machine did not reach state ${wanted.join(",")} within ${seconds}s`);
  });

  /**
   * `PATCH .../metadata {metadata, machine_version?}`: sets keys, removes those given null or "",
   * leaves the others; the machine keeps running (no new version). 412 when machine_version is stale.
   */
  const patchMetadata = withMachine((req, _app, m) => {
    const b = req.body;
    if (!isPlainObject(b) || !isPlainObject(b.metadata)) return badRequest("metadata is required");
    if (m.state === "destroyed") return flyError(404, "machine not found");
    if (b.machine_version !== undefined && b.machine_version !== m.version) return flyError(412, `machine version ${String(b.machine_version)} is not the current version ${m.version}`);
    const next = { ...(m.config.metadata ?? {}) } as Record<string, string>;
    for (const [k, v] of Object.entries(b.metadata)) {
      if (v === null || v === "") delete next[k];
      else if (typeof v === "string") next[k] = v;
      else return badRequest(`invalid metadata.${k}: values must be strings`);
    }
    m.config = { ...m.config, metadata: next };
    m.updated = Date.now();
    env.world.changed();
    return { status: 204 };
  });

  const destroyNow = (m: FlyMachine): void => {
    command(m);
    for (const v of volumes.values()) if (v.attachedMachineId === m.id) v.attachedMachineId = null;
    setState(m, "destroyed");
  };

  return {
    destroyNow,
    routes: [
      { method: "GET", pattern: "/v1/apps/:app/machines", name: "machines.list", handler: list },
      { method: "POST", pattern: "/v1/apps/:app/machines", name: "machines.create", handler: create },
      { method: "GET", pattern: "/v1/apps/:app/machines/:id", name: "machines.get", handler: withMachine((_r, _a, m) => ({ status: 200, body: renderMachine(m) })) },
      { method: "POST", pattern: "/v1/apps/:app/machines/:id", name: "machines.update", handler: update },
      { method: "DELETE", pattern: "/v1/apps/:app/machines/:id", name: "machines.delete", handler: remove },
      { method: "POST", pattern: "/v1/apps/:app/machines/:id/start", name: "machines.start", handler: start },
      { method: "POST", pattern: "/v1/apps/:app/machines/:id/stop", name: "machines.stop", handler: stop },
      { method: "GET", pattern: "/v1/apps/:app/machines/:id/wait", name: "machines.wait", handler: wait },
      { method: "GET", pattern: "/v1/apps/:app/machines/:id/metadata", name: "machines.metadata", handler: withMachine((_r, _a, m) => ({ status: 200, body: m.config.metadata ?? {} })) },
      { method: "PATCH", pattern: "/v1/apps/:app/machines/:id/metadata", name: "machines.metadata.update", handler: patchMetadata },
    ],
  };
}
