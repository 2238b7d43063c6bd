import type { SandboxEnv } from "../env.js";
import type { Route } from "../http.js";
import { isPlainObject, uuid } from "../util.js";
import { INSTANCE_TYPES, invalid, kError, koyebWorld, notFound, page, REGIONS, time, type KApp, type KSecret, type KVolume } from "./state.js";

const NAME = /^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$/;

export function renderApp(a: KApp): Record<string, unknown> {
  return { id: a.id, name: a.name, organization_id: "", status: a.status, created_at: time(a.created), updated_at: time(a.created), domains: [] };
}

function renderSecret(s: KSecret): Record<string, unknown> {
  // Values are never listed; `POST /v1/secrets/{id}/reveal` reads one.
  return { id: s.id, name: s.name, type: s.type, created_at: time(s.created), updated_at: time(s.created) };
}

function renderVolume(v: KVolume): Record<string, unknown> {
  return {
    id: v.id, name: v.name, region: v.region, max_size: v.maxSize, cur_size: 0, read_only: false, service_id: v.serviceId, status: v.status,
    backing_store: "PERSISTENT_VOLUME_BACKING_STORE_LOCAL_BLK", created_at: time(v.created), updated_at: time(v.created),
  };
}

/** Organization, quotas and the catalog: what automna reads before it creates anything. */
export function catalogRoutes(env: SandboxEnv): Route[] {
  const w = koyebWorld(env);
  return [
    { method: "GET", pattern: "/v1/account/organization", name: "organization.get", handler: () => ({ status: 200, body: { organization: { id: w.orgId, name: "automna-sandbox", status: "ACTIVE", plan: "pro" } } }) },
    {
      method: "GET", pattern: "/v1/organizations/:organization_id/quotas", name: "quotas.get", handler: (req) => {
        if (req.params.organization_id !== w.orgId) return notFound("organization");
        const volumes = Object.fromEntries(REGIONS.filter((r) => r.volumes).map((r) => [r.id, { max_volume_size: 10, max_total_size: 100, max_per_instance_size: 10 }]));
        return { status: 200, body: { quotas: { apps: "100", services: "100", instance_types: INSTANCE_TYPES.map((t) => t.id), regions: REGIONS.map((r) => r.id), persistent_volumes_by_region: volumes, logs_retention: 30 } } };
      },
    },
    {
      method: "GET", pattern: "/v1/catalog/regions", name: "catalog.regions", handler: (req) => page([...REGIONS], req.query, "regions", (r) => ({
        id: r.id, name: r.name, status: "available", instances: INSTANCE_TYPES.filter((t) => t.regions.includes(r.id)).map((t) => t.id), datacenters: [`${r.id}1`], volumes_enabled: r.volumes, scope: "metropolitan",
      })),
    },
    {
      method: "GET", pattern: "/v1/catalog/instances", name: "catalog.instances", handler: (req) => page([...INSTANCE_TYPES], req.query, "instances", (t) => ({
        id: t.id, description: t.id, vcpu_shares: t.vcpu, memory: `${t.memoryMb}MB`, disk: `${t.diskGb}GB`, regions: t.regions, status: "available",
        price_monthly: t.monthly.toFixed(2), price_hourly: (t.monthly / 730).toFixed(6), price_per_second: (t.monthly / 730 / 3600).toFixed(8),
        volumes_enabled: t.volumes, service_types: ["web", "worker"], light_sleep_enabled: !t.eco, type: t.eco ? "eco" : "standard",
      })),
    },
  ];
}

export function appRoutes(env: SandboxEnv, deleteApp: (app: KApp) => void): Route[] {
  const w = koyebWorld(env);
  return [
    {
      method: "POST", pattern: "/v1/apps", name: "apps.create", handler: (req) => {
        const b = req.body;
        if (!isPlainObject(b) || typeof b.name !== "string" || !NAME.test(b.name)) return invalid("name", "must be 1 to 63 lowercase letters, digits and dashes");
        if (Object.values(w.apps).some((a) => a.name === b.name)) return invalid("name", "already exists");
        const app: KApp = { id: uuid(), name: b.name, created: Date.now(), status: "HEALTHY" };
        w.apps[app.id] = app;
        env.world.changed();
        return { status: 200, body: { app: renderApp(app) } };
      },
    },
    {
      method: "GET", pattern: "/v1/apps", name: "apps.list", handler: (req) => {
        const name = req.query.get("name");
        return page(Object.values(w.apps).filter((a) => !name || a.name === name), req.query, "apps", renderApp);
      },
    },
    { method: "GET", pattern: "/v1/apps/:id", name: "apps.get", handler: (req) => (w.apps[req.params.id!] ? { status: 200, body: { app: renderApp(w.apps[req.params.id!]!) } } : notFound("app")) },
    {
      method: "DELETE", pattern: "/v1/apps/:id", name: "apps.delete", handler: (req) => {
        const app = w.apps[req.params.id!];
        if (!app) return notFound("app");
        deleteApp(app);
        return { status: 200, body: {} };
      },
    },
  ];
}

export function secretRoutes(env: SandboxEnv): Route[] {
  const w = koyebWorld(env);
  return [
    {
      method: "POST", pattern: "/v1/secrets", name: "secrets.create", handler: (req) => {
        const b = req.body;
        if (!isPlainObject(b) || typeof b.name !== "string" || !/^[A-Za-z0-9_-]{1,64}$/.test(b.name)) return invalid("name", "must be 1 to 64 letters, digits, - or _");
        if (b.type !== undefined && b.type !== "SIMPLE") return invalid("type", "only SIMPLE secrets are supported here");
        if (typeof b.value !== "string") return invalid("value", "is required");
        if (Object.values(w.secrets).some((s) => s.name === b.name)) return invalid("name", "already exists");
        const secret: KSecret = { id: uuid(), name: b.name, type: "SIMPLE", value: b.value, created: Date.now() };
        w.secrets[secret.id] = secret;
        env.world.changed();
        return { status: 200, body: { secret: renderSecret(secret) } };
      },
    },
    {
      method: "GET", pattern: "/v1/secrets", name: "secrets.list", handler: (req) => {
        const name = req.query.get("name");
        return page(Object.values(w.secrets).filter((s) => !name || s.name === name), req.query, "secrets", renderSecret);
      },
    },
    ...(["PATCH", "PUT"] as const).map((method): Route => ({
      method, pattern: "/v1/secrets/:id", name: `secrets.${method === "PATCH" ? "update" : "replace"}`, handler: (req) => {
        const s = w.secrets[req.params.id!];
        if (!s) return notFound("secret");
        if (!isPlainObject(req.body) || typeof req.body.value !== "string") return invalid("value", "is required");
        s.value = req.body.value;
        env.world.changed();
        return { status: 200, body: { secret: renderSecret(s) } };
      },
    })),
    {
      method: "DELETE", pattern: "/v1/secrets/:id", name: "secrets.delete", handler: (req) => {
        if (!w.secrets[req.params.id!]) return notFound("secret");
        delete w.secrets[req.params.id!];
        env.world.changed();
        return { status: 200, body: {} };
      },
    },
    {
      method: "POST", pattern: "/v1/secrets/:id/reveal", name: "secrets.reveal", handler: (req) => {
        const s = w.secrets[req.params.id!];
        return s ? { status: 200, body: { value: s.value } } : notFound("secret");
      },
    },
  ];
}

export function volumeRoutes(env: SandboxEnv): Route[] {
  const w = koyebWorld(env);
  return [
    {
      method: "POST", pattern: "/v1/volumes", name: "volumes.create", handler: (req) => {
        const b = req.body;
        if (!isPlainObject(b) || typeof b.name !== "string" || !NAME.test(b.name)) return invalid("name", "must be 1 to 63 lowercase letters, digits and dashes");
        const region = REGIONS.find((r) => r.id === b.region);
        if (!region) return invalid("region", `unknown region; one of ${REGIONS.map((r) => r.id).join(", ")}`);
        if (!region.volumes) return invalid("region", `volumes are not available in ${region.id}`);
        if (b.volume_type !== "PERSISTENT_VOLUME_BACKING_STORE_LOCAL_BLK") return invalid("volume_type", "must be PERSISTENT_VOLUME_BACKING_STORE_LOCAL_BLK");
        const size = Number(b.max_size);
        if (!Number.isInteger(size) || size < 1 || size > 10) return invalid("max_size", "must be between 1 and 10 GB (the region's quota)");
        if (Object.values(w.volumes).some((v) => v.name === b.name)) return invalid("name", "already exists");
        const volume: KVolume = { id: uuid(), name: b.name, region: region.id, maxSize: size, created: Date.now(), serviceId: "", status: "PERSISTENT_VOLUME_STATUS_DETACHED" };
        w.volumes[volume.id] = volume;
        env.world.changed();
        return { status: 200, body: { volume: renderVolume(volume) } };
      },
    },
    {
      method: "GET", pattern: "/v1/volumes", name: "volumes.list", handler: (req) => {
        const name = req.query.get("name");
        return page(Object.values(w.volumes).filter((v) => !name || v.name === name), req.query, "volumes", renderVolume);
      },
    },
    { method: "GET", pattern: "/v1/volumes/:id", name: "volumes.get", handler: (req) => (w.volumes[req.params.id!] ? { status: 200, body: { volume: renderVolume(w.volumes[req.params.id!]!) } } : notFound("volume")) },
    {
      method: "DELETE", pattern: "/v1/volumes/:id", name: "volumes.delete", handler: (req) => {
        const v = w.volumes[req.params.id!];
        if (!v) return notFound("volume");
        const user = v.serviceId ? w.services[v.serviceId] : undefined;
        if (user && user.status !== "DELETED") return kError(400, "invalid_argument", `volume ${v.name} is attached to service ${user.name}; delete the service first`);
        delete w.volumes[v.id];
        env.world.changed();
        return { status: 200, body: { volume: renderVolume(v) } };
      },
    },
  ];
}
