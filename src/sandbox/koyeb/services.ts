import type { SandboxEnv } from "../env.js";
import type { Reply, Route } from "../http.js";
import type { SimHost } from "../hosts.js";
import { isPlainObject, uuid } from "../util.js";
import { INSTANCE_TYPES, invalid, kError, koyebWorld, notFound, page, REGIONS, time, type KDeployment, type KInstance, type KService } from "./state.js";

/** The order a deployment goes through (Deployment.Status), one step per quarter action delay. */
const RISE = ["PENDING", "PROVISIONING", "SCHEDULED", "ALLOCATING", "STARTING", "HEALTHY"] as const;

/** Whether a deployment's definition holds the agent: its docker command replaced (see koyeb provider). */
export function isHeld(definition: Record<string, unknown>): boolean {
  const docker = definition.docker as { command?: unknown } | undefined;
  return typeof docker?.command === "string" && docker.command !== "";
}

export interface ServiceOps {
  routes: Route[];
  hostOf(s: KService): SimHost;
  deleteNow(s: KService): void;
}

/**
 * Services, deployments and instances. A service's instance is one simulated host (key
 * `koyeb:<service id>`) that keeps its /data across deployments, as the volume does; each new
 * deployment restarts it (held when the definition replaces the docker command).
 */
export function serviceRoutes(env: SandboxEnv): ServiceOps {
  const w = koyebWorld(env);
  const step = Math.max(1, env.delayMs / 4);
  const hostOf = (s: KService): SimHost => env.hosts.host("koyeb", s.id, `${w.apps[s.appId]?.name ?? s.appId}/${s.name}`, s.address);
  const instanceOf = (d: KDeployment): KInstance | undefined => Object.values(w.instances).find((i) => i.deploymentId === d.id);

  env.timeline.on("koyeb.deployment", (ref) => {
    const [id, status] = ref.split(":");
    const d = w.deployments[id!];
    const s = d ? w.services[d.serviceId] : undefined;
    if (!d || !s || ["CANCELED", "STOPPED", "ERROR"].includes(d.status) || s.status === "DELETED" || s.status === "DELETING") return;
    d.status = status!;
    const region = ((d.definition.regions as string[] | undefined) ?? ["fra"])[0]!;
    const type = ((d.definition.instance_types as { type: string }[] | undefined) ?? [{ type: "nano" }])[0]!.type;
    if (status === "ALLOCATING") {
      const instance: KInstance = { id: uuid(), serviceId: s.id, deploymentId: d.id, region, type, status: "ALLOCATING", created: Date.now() };
      w.instances[instance.id] = instance;
    }
    if (status === "STARTING") {
      // The previous deployment's instance stops; the host restarts with this definition.
      for (const other of Object.values(w.deployments)) {
        if (other.serviceId !== s.id || other.id === d.id || other.status !== "HEALTHY") continue;
        other.status = "STOPPED";
        const old = instanceOf(other);
        if (old) old.status = "STOPPED";
      }
      const i = instanceOf(d);
      if (i) i.status = "STARTING";
      // Healthy once the restarted host runs (its agent, or held, its stand-in command).
      const host = hostOf(s);
      void env.hosts.set(host, false).then(() => env.hosts.set(host, true)).then(() => env.timeline.add("koyeb.deployment", `${d.id}:HEALTHY`, step));
    }
    if (status === "HEALTHY") {
      const i = instanceOf(d);
      if (i) i.status = "HEALTHY";
      s.activeDeploymentId = d.id;
      if (s.status !== "PAUSED" && s.status !== "PAUSING") s.status = "HEALTHY";
    }
    const next = RISE[RISE.indexOf(status as (typeof RISE)[number]) + 1];
    if (next && status !== "STARTING") env.timeline.add("koyeb.deployment", `${d.id}:${next}`, step);
    env.events.emit(`change:koyeb:${s.id}`);
    env.world.changed();
  });
  env.timeline.on("koyeb.service", (ref) => {
    const [id, status] = ref.split(":");
    const s = w.services[id!];
    if (!s) return;
    if (status === "DELETED") return deleteNow(s);
    s.status = status!;
    if (status === "PAUSED") {
      for (const i of Object.values(w.instances)) if (i.serviceId === s.id && i.status === "HEALTHY") i.status = "STOPPED";
      void env.hosts.set(hostOf(s), false);
    }
    if (status === "HEALTHY") {
      const active = w.deployments[s.activeDeploymentId];
      const i = active ? instanceOf(active) : undefined;
      if (i) i.status = "HEALTHY";
      void env.hosts.set(hostOf(s), true);
    }
    env.world.changed();
  });

  const deleteNow = (s: KService): void => {
    s.status = "DELETED";
    for (const d of Object.values(w.deployments)) if (d.serviceId === s.id) delete w.deployments[d.id];
    for (const i of Object.values(w.instances)) if (i.serviceId === s.id) delete w.instances[i.id];
    for (const v of Object.values(w.volumes)) if (v.serviceId === s.id) v.status = "PERSISTENT_VOLUME_STATUS_DETACHED";
    delete w.services[s.id];
    void env.hosts.destroy(hostOf(s));
    env.world.changed();
  };

  /** Checks a definition as Koyeb (and its control panel) would; a Reply when it is refused. */
  const check = (def: unknown, serviceId: string | undefined): Reply | Record<string, unknown> => {
    if (!isPlainObject(def)) return invalid("definition", "is required");
    if (def.type !== "WORKER" && def.type !== "WEB") return invalid("definition.type", "must be WORKER or WEB");
    const docker = def.docker;
    if (!isPlainObject(docker) || typeof docker.image !== "string" || !docker.image) return invalid("definition.docker.image", "is required");
    const regions = def.regions;
    if (!Array.isArray(regions) || regions.length !== 1) return invalid("definition.regions", "exactly one region");
    const region = REGIONS.find((r) => r.id === regions[0]);
    if (!region) return invalid("definition.regions", `unknown region ${String(regions[0])}`);
    const types = def.instance_types;
    const typeId = Array.isArray(types) && isPlainObject(types[0]) ? types[0].type : undefined;
    const type = INSTANCE_TYPES.find((t) => t.id === typeId);
    if (!type) return invalid("definition.instance_types", `unknown instance type ${String(typeId)}`);
    if (!type.regions.includes(region.id)) return invalid("definition.instance_types", `${type.id} is not offered in ${region.id}`);
    const scalings = def.scalings;
    const scaling = Array.isArray(scalings) && isPlainObject(scalings[0]) ? scalings[0] : undefined;
    if (!scaling || !Number.isInteger(scaling.min) || !Number.isInteger(scaling.max)) return invalid("definition.scalings", "min and max are required");
    const volumes = Array.isArray(def.volumes) ? def.volumes : [];
    for (const v of volumes) {
      if (!isPlainObject(v) || typeof v.id !== "string" || typeof v.path !== "string") return invalid("definition.volumes", "each volume needs id and path");
      const vol = w.volumes[v.id];
      if (!vol) return invalid("definition.volumes", `volume ${v.id} not found`);
      if (vol.region !== region.id) return invalid("definition.volumes", `volume ${vol.name} is in ${vol.region}, not ${region.id}`);
      if (!region.volumes) return invalid("definition.regions", `volumes are not available in ${region.id}`);
      if (!type.volumes) return invalid("definition.instance_types", `instance type ${type.id} cannot have volumes`);
      if (scaling.min !== 1 || scaling.max !== 1) return invalid("definition.scalings", "a service with a volume needs exactly one instance (min = max = 1)");
      if (vol.serviceId && vol.serviceId !== serviceId) return invalid("definition.volumes", `volume ${vol.name} was attached to another service and cannot be attached again`);
    }
    for (const e of Array.isArray(def.env) ? def.env : []) {
      if (!isPlainObject(e) || typeof e.key !== "string") return invalid("definition.env", "each entry needs a key");
      if (typeof e.secret === "string" && !Object.values(w.secrets).some((s) => s.name === e.secret)) return invalid("definition.env", `secret ${e.secret} not found`);
    }
    return def;
  };

  const deploy = (s: KService, definition: Record<string, unknown>): KDeployment => {
    const d: KDeployment = { id: uuid(), serviceId: s.id, appId: s.appId, parentId: s.latestDeploymentId, status: "PENDING", created: Date.now(), definition };
    w.deployments[d.id] = d;
    s.latestDeploymentId = d.id;
    for (const v of (definition.volumes as { id: string }[] | undefined) ?? []) {
      const vol = w.volumes[v.id]!;
      vol.serviceId = s.id;
      vol.status = "PERSISTENT_VOLUME_STATUS_ATTACHED";
    }
    env.timeline.add("koyeb.deployment", `${d.id}:PROVISIONING`, step);
    return d;
  };

  const render = (s: KService): Record<string, unknown> => ({
    id: s.id, name: s.name, type: s.type, organization_id: w.orgId, app_id: s.appId, status: s.status, messages: [],
    latest_deployment_id: s.latestDeploymentId, active_deployment_id: s.activeDeploymentId, created_at: time(s.created), updated_at: time(s.created),
  });
  const renderDeployment = (d: KDeployment): Record<string, unknown> => ({
    id: d.id, service_id: d.serviceId, app_id: d.appId, organization_id: w.orgId, parent_id: d.parentId, status: d.status, definition: d.definition,
    messages: [], created_at: time(d.created), updated_at: time(d.created),
  });
  const renderInstance = (i: KInstance): Record<string, unknown> => ({
    id: i.id, service_id: i.serviceId, app_id: w.services[i.serviceId]?.appId ?? "", organization_id: w.orgId, type: i.type, region: i.region,
    datacenter: `${i.region}1`, status: i.status, replica_index: 0, messages: [], created_at: time(i.created), updated_at: time(i.created),
  });
  const find = (id: string): KService | Reply => w.services[id] ?? notFound("service");

  const update = async (req: { params: Record<string, string>; body: unknown }): Promise<Reply> => {
    const s = find(req.params.id!);
    if ("status" in s && typeof s.status === "number") return s as Reply;
    const svc = s as KService;
    if (svc.status === "DELETING") return kError(400, "invalid_argument", "service is being deleted");
    const b = req.body;
    if (!isPlainObject(b)) return invalid("definition", "is required");
    const def = check(b.definition, svc.id);
    if ("status" in def && typeof def.status === "number") return def as Reply;
    deploy(svc, def as Record<string, unknown>);
    env.world.changed();
    return { status: 200, body: { service: render(svc) } };
  };

  const routes: Route[] = [
    {
      method: "POST", pattern: "/v1/services", name: "services.create", handler: async (req) => {
        const b = req.body;
        if (!isPlainObject(b)) return invalid("definition", "is required");
        const app = typeof b.app_id === "string" ? w.apps[b.app_id] : undefined;
        if (!app) return invalid("app_id", "app not found");
        const def = check(b.definition, undefined);
        if ("status" in def && typeof def.status === "number") return def as Reply;
        const name = typeof b.name === "string" ? b.name : typeof (def as { name?: unknown }).name === "string" ? String((def as { name: string }).name) : "";
        if (!/^[a-z0-9-]{1,63}$/.test(name)) return invalid("name", "must be 1 to 63 lowercase letters, digits and dashes");
        if (Object.values(w.services).some((s) => s.appId === app.id && s.name === name)) return invalid("name", "already exists in this app");
        if (req.query.get("dry_run") === "true") return { status: 200, body: { service: { name, app_id: app.id } } };
        const s: KService = {
          id: uuid(), appId: app.id, name, type: String((def as { type: string }).type), status: "STARTING", created: Date.now(),
          latestDeploymentId: "", activeDeploymentId: "", address: await env.hosts.allocate(), volumeIds: [],
        };
        w.services[s.id] = s;
        deploy(s, def as Record<string, unknown>);
        env.world.changed();
        return { status: 200, body: { service: render(s) } };
      },
    },
    {
      method: "GET", pattern: "/v1/services", name: "services.list", handler: (req) => {
        const appId = req.query.get("app_id");
        const name = req.query.get("name");
        return page(Object.values(w.services).filter((s) => (!appId || s.appId === appId) && (!name || s.name === name)), req.query, "services", render);
      },
    },
    { method: "GET", pattern: "/v1/services/:id", name: "services.get", handler: (req) => (w.services[req.params.id!] ? { status: 200, body: { service: render(w.services[req.params.id!]!) } } : notFound("service")) },
    { method: "PATCH", pattern: "/v1/services/:id", name: "services.update", handler: update },
    { method: "PUT", pattern: "/v1/services/:id", name: "services.replace", handler: update },
    {
      method: "DELETE", pattern: "/v1/services/:id", name: "services.delete", handler: (req) => {
        const s = w.services[req.params.id!];
        if (!s) return notFound("service");
        if (s.status !== "DELETING") {
          s.status = "DELETING";
          env.timeline.add("koyeb.service", `${s.id}:DELETED`, step);
          env.world.changed();
        }
        return { status: 200, body: {} };
      },
    },
    ...(["pause", "resume", "redeploy"] as const).map((verb): Route => ({
      method: "POST", pattern: `/v1/services/:id/${verb}`, name: `services.${verb}`, handler: (req) => {
        const s = w.services[req.params.id!];
        if (!s) return notFound("service");
        if (verb === "pause") {
          s.status = "PAUSING";
          env.timeline.add("koyeb.service", `${s.id}:PAUSED`, step);
        } else if (verb === "resume") {
          if (s.status !== "PAUSED") return kError(400, "invalid_argument", `service is ${s.status}, not PAUSED`);
          s.status = "RESUMING";
          env.timeline.add("koyeb.service", `${s.id}:HEALTHY`, step);
        } else {
          const latest = w.deployments[s.latestDeploymentId];
          if (!latest) return kError(400, "invalid_argument", "service has no deployment");
          return { status: 200, body: { deployment: renderDeployment(deploy(s, latest.definition)) } };
        }
        env.world.changed();
        return { status: 200, body: verb === "pause" ? {} : {} };
      },
    })),
    {
      method: "GET", pattern: "/v1/deployments", name: "deployments.list", handler: (req) => {
        const sid = req.query.get("service_id");
        return page(Object.values(w.deployments).filter((d) => !sid || d.serviceId === sid).reverse(), req.query, "deployments", renderDeployment);
      },
    },
    { method: "GET", pattern: "/v1/deployments/:id", name: "deployments.get", handler: (req) => (w.deployments[req.params.id!] ? { status: 200, body: { deployment: renderDeployment(w.deployments[req.params.id!]!) } } : notFound("deployment")) },
    {
      method: "GET", pattern: "/v1/instances", name: "instances.list", handler: (req) => {
        const sid = req.query.get("service_id");
        const statuses = req.query.getAll("statuses");
        return page(Object.values(w.instances).filter((i) => (!sid || i.serviceId === sid) && (!statuses.length || statuses.includes(i.status))), req.query, "instances", renderInstance);
      },
    },
    { method: "GET", pattern: "/v1/instances/:id", name: "instances.get", handler: (req) => (w.instances[req.params.id!] ? { status: 200, body: { instance: renderInstance(w.instances[req.params.id!]!) } } : notFound("instance")) },
  ];
  return { routes, hostOf, deleteNow };
}
