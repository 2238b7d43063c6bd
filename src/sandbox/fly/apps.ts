import { createHash } from "node:crypto";
import type { SandboxEnv } from "../env.js";
import { isReply, type ApiRequest, type Reply, type Route } from "../http.js";
import { isPlainObject, isoSeconds, randomAlnum, randomHex } from "../util.js";
import type { FlyApp, FlySecret, FlyVolume } from "../world-types.js";
import { ORGS, REGIONS, badRequest, cursorPage, flyError } from "./common.js";

const APP_NAME = /^[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?$/;
const VOLUME_NAME = /^[a-z0-9_]{1,30}$/;
const SECRET_NAME = /^[A-Za-z_][A-Za-z0-9_]*$/;

export function appNotFound(): Reply {
  return flyError(404, "app not found");
}

/** Looks up `:app` of a request. */
export function findApp(env: SandboxEnv, req: ApiRequest): FlyApp | Reply {
  return env.world.fly.apps.get(req.params.app!) ?? appNotFound();
}

export function renderApp(env: SandboxEnv, app: FlyApp): Record<string, unknown> {
  let machines = 0;
  for (const m of env.world.fly.machines.values()) if (m.app === app.name && m.state !== "destroyed") machines++;
  let volumes = 0;
  for (const v of env.world.fly.volumes.values()) if (v.app === app.name) volumes++;
  const org = ORGS[app.org]!;
  return {
    id: app.id, name: app.name, internal_numeric_id: app.internalId, network: app.network, network_cidr: "fdaa:0:1::/48",
    organization: { name: org.name, slug: app.org, internal_numeric_id: org.id },
    status: machines > 0 ? "deployed" : "pending", machine_count: machines, volume_count: volumes,
  };
}

export function renderVolume(v: FlyVolume): Record<string, unknown> {
  const blocks = v.sizeGb * 262_144;
  return {
    id: v.id, name: v.name, state: v.state, size_gb: v.sizeGb, region: v.region, zone: v.zone, encrypted: v.encrypted,
    attached_machine_id: v.attachedMachineId ?? "", attached_alloc_id: "", created_at: isoSeconds(v.created),
    block_size: 4096, blocks, blocks_avail: blocks - 1024, blocks_free: blocks - 1024, bytes_total: v.sizeGb * 1024 ** 3, bytes_used: 4096 * 1024,
    fstype: v.fstype, snapshot_retention: v.snapshotRetention, auto_backup_enabled: v.autoBackup, host_status: "ok", type: "local",
  };
}

function renderSecret(s: FlySecret, showValue: boolean): Record<string, unknown> {
  return { name: s.name, digest: s.digest, created_at: isoSeconds(s.created), updated_at: isoSeconds(s.updated), ...(showValue ? { value: s.value } : {}) };
}

function digest(value: string): string {
  return createHash("sha256").update(value).digest("hex").slice(0, 16);
}

export function appRoutes(env: SandboxEnv, destroyApp: (app: FlyApp) => void): Route[] {
  const apps = env.world.fly.apps;
  const create = (req: ApiRequest): Reply => {
    const b = req.body;
    if (!isPlainObject(b)) return badRequest("invalid request body");
    const org = b.org_slug;
    if (typeof org !== "string" || org === "") return badRequest("org_slug is required");
    if (!ORGS[org]) return flyError(404, `organization ${org} not found`);
    if (b.name !== undefined && typeof b.name !== "string") return badRequest("name must be a string");
    if (b.network !== undefined && typeof b.network !== "string") return badRequest("network must be a string");
    const key = typeof b.idempotency_key === "string" && b.idempotency_key !== "" ? b.idempotency_key : null;
    if (key) {
      const earlier = [...apps.values()].find((a) => a.idempotencyKey === key);
      if (earlier) {
        if (b.name !== undefined && b.name !== earlier.name) return flyError(422, `idempotency_key was already used to create app ${earlier.name}`);
        return { status: 201, body: { id: earlier.id, created_at: earlier.created } };
      }
    }
    const name = (b.name as string | undefined) ?? `app-${randomAlnum(8)}`;
    if (!APP_NAME.test(name)) return flyError(422, "Validation failed: Name may only contain lowercase letters, numbers and dashes, and must start and end with a letter or number");
    if (apps.has(name)) return flyError(422, "Validation failed: Name has already been taken", "name_taken");
    const app: FlyApp = {
      id: randomAlnum(16), name, org, network: (b.network as string | undefined) ?? "default", internalId: env.world.nextId("fly.app"),
      created: Date.now(), idempotencyKey: key, secretsVersion: 0,
    };
    apps.set(name, app);
    env.world.changed();
    return { status: 201, body: { id: app.id, created_at: app.created } };
  };

  const list = (req: ApiRequest): Reply => {
    const org = req.query.get("org_slug");
    if (!org) return badRequest("org_slug is required");
    const all = [...apps.values()].filter((a) => a.org === org);
    const page = cursorPage(all, req.query, 5000, (a) => ({ t: a.created, id: a.name }));
    if (isReply(page)) return page;
    return { status: 200, body: { total_apps: all.length, apps: page.items.map((a) => renderApp(env, a)), ...(page.next ? { next_cursor: page.next } : {}) } };
  };

  return [
    { method: "GET", pattern: "/v1/apps", name: "apps.list", handler: list },
    { method: "POST", pattern: "/v1/apps", name: "apps.create", handler: create },
    { method: "GET", pattern: "/v1/apps/:app", name: "apps.get", handler: (req) => {
      const app = findApp(env, req);
      return isReply(app) ? app : { status: 200, body: renderApp(env, app) };
    } },
    { method: "DELETE", pattern: "/v1/apps/:app", name: "apps.delete", handler: (req) => {
      const app = findApp(env, req);
      if (isReply(app)) return app;
      destroyApp(app);
      return { status: 202 };
    } },
  ];
}

export function secretRoutes(env: SandboxEnv): Route[] {
  const secrets = env.world.fly.secrets;
  const ofApp = (app: string): FlySecret[] => [...secrets.values()].filter((s) => s.app === app);
  const show = (req: ApiRequest): boolean => req.query.get("show_secrets") === "true";
  const bump = (app: FlyApp): number => {
    app.secretsVersion++;
    env.world.changed();
    return app.secretsVersion;
  };
  const put = (app: FlyApp, name: string, value: string, now: number): FlySecret => {
    const existing = secrets.get(`${app.name}/${name}`);
    const secret: FlySecret = { app: app.name, name, value, digest: digest(value), created: existing?.created ?? now, updated: now };
    secrets.set(`${app.name}/${name}`, secret);
    return secret;
  };
  return [
    { method: "GET", pattern: "/v1/apps/:app/secrets", name: "secrets.list", handler: (req) => {
      const app = findApp(env, req);
      return isReply(app) ? app : { status: 200, body: { secrets: ofApp(app.name).map((s) => renderSecret(s, show(req))) } };
    } },
    { method: "POST", pattern: "/v1/apps/:app/secrets", name: "secrets.update", handler: (req) => {
      const app = findApp(env, req);
      if (isReply(app)) return app;
      const values = isPlainObject(req.body) ? req.body.values : undefined;
      if (!isPlainObject(values)) return badRequest("values is required");
      for (const [name, value] of Object.entries(values)) {
        if (!SECRET_NAME.test(name)) return badRequest(`invalid secret name "${name}"`);
        if (value !== null && typeof value !== "string") return badRequest(`secret ${name}: value must be a string or null`);
      }
      const now = Date.now();
      for (const [name, value] of Object.entries(values)) {
        if (value === null) secrets.delete(`${app.name}/${name}`);
        else put(app, name, value as string, now);
      }
      const version = bump(app);
      return { status: 200, body: { secrets: ofApp(app.name).map((s) => renderSecret(s, false)), version, Version: version } };
    } },
    { method: "GET", pattern: "/v1/apps/:app/secrets/:name", name: "secrets.get", handler: (req) => {
      const app = findApp(env, req);
      if (isReply(app)) return app;
      const s = secrets.get(`${app.name}/${req.params.name}`);
      return s ? { status: 200, body: renderSecret(s, show(req)) } : flyError(404, "secret not found");
    } },
    { method: "POST", pattern: "/v1/apps/:app/secrets/:name", name: "secrets.set", handler: (req) => {
      const app = findApp(env, req);
      if (isReply(app)) return app;
      const name = req.params.name!;
      if (!SECRET_NAME.test(name)) return badRequest(`invalid secret name "${name}"`);
      const value = isPlainObject(req.body) ? req.body.value : undefined;
      if (typeof value !== "string") return badRequest("value is required");
      const s = put(app, name, value, Date.now());
      const version = bump(app);
      return { status: 201, body: { ...renderSecret(s, false), version, Version: version } };
    } },
    { method: "DELETE", pattern: "/v1/apps/:app/secrets/:name", name: "secrets.delete", handler: (req) => {
      const app = findApp(env, req);
      if (isReply(app)) return app;
      if (!secrets.delete(`${app.name}/${req.params.name}`)) return flyError(404, "secret not found");
      const version = bump(app);
      return { status: 200, body: { version, Version: version } };
    } },
  ];
}

export function volumeRoutes(env: SandboxEnv): Route[] {
  const volumes = env.world.fly.volumes;
  const find = (req: ApiRequest, app: FlyApp): FlyVolume | Reply => {
    const v = volumes.get(req.params.id!);
    return v && v.app === app.name ? v : flyError(404, "volume not found");
  };
  return [
    { method: "GET", pattern: "/v1/apps/:app/volumes", name: "volumes.list", handler: (req) => {
      const app = findApp(env, req);
      if (isReply(app)) return app;
      const page = cursorPage([...volumes.values()].filter((v) => v.app === app.name), req.query, 1000, (v) => ({ t: v.created, id: v.id }));
      if (isReply(page)) return page;
      return { status: 200, headers: page.next ? { "fly-next-cursor": page.next } : {}, body: page.items.map(renderVolume) };
    } },
    { method: "POST", pattern: "/v1/apps/:app/volumes", name: "volumes.create", handler: (req) => {
      const app = findApp(env, req);
      if (isReply(app)) return app;
      const b = req.body;
      if (!isPlainObject(b)) return badRequest("invalid request body");
      if (typeof b.name !== "string" || !VOLUME_NAME.test(b.name)) return badRequest("name must be 1-30 lowercase letters, numbers or underscores");
      if (typeof b.region !== "string" || b.region === "") return badRequest("region is required");
      if (!REGIONS.has(b.region)) return badRequest(`region ${b.region} not found`);
      const size = b.size_gb ?? 1;
      if (typeof size !== "number" || !Number.isInteger(size) || size < 1 || size > 500) return badRequest("size_gb must be an integer from 1 to 500");
      for (const k of ["encrypted", "auto_backup_enabled", "require_unique_zone"]) if (b[k] !== undefined && typeof b[k] !== "boolean") return badRequest(`${k} must be a boolean`);
      if (b.snapshot_retention !== undefined && (typeof b.snapshot_retention !== "number" || b.snapshot_retention < 1 || b.snapshot_retention > 60)) return badRequest("snapshot_retention must be from 1 to 60");
      const volume: FlyVolume = {
        id: `vol_${randomAlnum(16, "0123456789abcdefghijklmnopqrstuvwxyz")}`, app: app.name, name: b.name, region: b.region, zone: randomHex(4),
        sizeGb: size, encrypted: b.encrypted !== false, state: "created", created: Date.now(), attachedMachineId: null,
        snapshotRetention: (b.snapshot_retention as number | undefined) ?? 5, autoBackup: b.auto_backup_enabled !== false, fstype: typeof b.fstype === "string" ? b.fstype : "ext4",
      };
      volumes.set(volume.id, volume);
      env.world.changed();
      return { status: 200, body: renderVolume(volume) };
    } },
    { method: "GET", pattern: "/v1/apps/:app/volumes/:id", name: "volumes.get", handler: (req) => {
      const app = findApp(env, req);
      if (isReply(app)) return app;
      const v = find(req, app);
      return isReply(v) ? v : { status: 200, body: renderVolume(v) };
    } },
    { method: "DELETE", pattern: "/v1/apps/:app/volumes/:id", name: "volumes.delete", handler: (req) => {
      const app = findApp(env, req);
      if (isReply(app)) return app;
      const v = find(req, app);
      if (isReply(v)) return v;
      if (v.attachedMachineId) return badRequest(`volume ${v.id} is attached to machine ${v.attachedMachineId}; destroy the machine first`);
      volumes.delete(v.id);
      env.world.changed();
      return { status: 200, body: renderVolume({ ...v, state: "destroyed" }) };
    } },
  ];
}
