import type { SandboxEnv } from "../env.js";
import { isReply, type ApiRequest, type Limit, type MatchedRoute, type ProviderApi, type Reply, type Route } from "../http.js";
import { SlidingWindow } from "../rate-limit.js";
import { parsePublicKey } from "../ssh-keys.js";
import { isPlainObject, uuid } from "../util.js";
import type { DoSshKey } from "../world-types.js";
import { IMAGES, REGIONS, SIZES, renderImage, renderRegion, renderSize } from "./catalog.js";
import { TAG_NAME, accountOf, doError, notFound, paginate, statusError, unprocessable } from "./common.js";
import { dropletRoutes } from "./droplets.js";

const HOURLY = 5000;
const PER_MINUTE = 250;
const KEYS_PER_MINUTE = 10;

function renderKey(k: DoSshKey): Record<string, unknown> {
  return { id: k.id, fingerprint: k.fingerprint, public_key: k.publicKey, name: k.name };
}

function sshKeyRoutes(env: SandboxEnv): Route[] {
  const keys = env.world.digitalocean.sshKeys;
  const find = (req: ApiRequest): DoSshKey | Reply => {
    const ref = req.params.key!;
    for (const k of keys.values()) if (String(k.id) === ref || k.fingerprint === ref) return k;
    return notFound();
  };
  return [
    { method: "GET", pattern: "/v2/account/keys", name: "keys.list", handler: (req) => {
      const page = paginate([...keys.values()], req.query, `${req.origin}/v2/account/keys`);
      if (isReply(page)) return page;
      return { status: 200, body: { ssh_keys: page.items.map(renderKey), links: page.links, meta: page.meta } };
    } },
    { method: "POST", pattern: "/v2/account/keys", name: "keys.create", handler: (req) => {
      const b = req.body;
      if (!isPlainObject(b)) return unprocessable("name and public_key are required");
      if (typeof b.name !== "string" || b.name === "") return unprocessable("name is required");
      if (typeof b.public_key !== "string" || b.public_key === "") return unprocessable("public_key is required");
      const parsed = parsePublicKey(b.public_key);
      if (!parsed) return unprocessable("public_key: Key invalid, type not supported or key malformed");
      for (const k of keys.values()) if (k.fingerprint === parsed.fingerprint) return unprocessable("SSH Key is already in use on your account");
      const key: DoSshKey = { id: env.world.nextId("do.ssh_key"), name: b.name, publicKey: b.public_key.trim(), fingerprint: parsed.fingerprint };
      keys.set(key.id, key);
      env.world.changed();
      return { status: 201, body: { ssh_key: renderKey(key) } };
    } },
    { method: "GET", pattern: "/v2/account/keys/:key", name: "keys.get", handler: (req) => {
      const k = find(req);
      return isReply(k) ? k : { status: 200, body: { ssh_key: renderKey(k) } };
    } },
    { method: "PUT", pattern: "/v2/account/keys/:key", name: "keys.update", handler: (req) => {
      const k = find(req);
      if (isReply(k)) return k;
      const b = req.body;
      if (isPlainObject(b) && b.name !== undefined) {
        if (typeof b.name !== "string" || b.name === "") return unprocessable("name is invalid");
        k.name = b.name;
        env.world.changed();
      }
      return { status: 200, body: { ssh_key: renderKey(k) } };
    } },
    { method: "DELETE", pattern: "/v2/account/keys/:key", name: "keys.delete", handler: (req) => {
      const k = find(req);
      if (isReply(k)) return k;
      keys.delete(k.id);
      env.world.changed();
      return { status: 204 };
    } },
  ];
}

/**
 * `GET /v2/account`: what clients call first to check a token (doctl's `auth init`, dots' examples).
 * The sandbox's own account, or the second account for its token (`secondAccountToken`); their ids
 * are fixed strings, not derived from the token.
 */
function accountRoute(env: SandboxEnv): Route {
  return { method: "GET", pattern: "/v2/account", name: "account.get", handler: (req) => {
    const second = accountOf(env, req) === "second";
    return {
      status: 200,
      body: {
        account: {
          droplet_limit: env.limits?.digitalocean ?? 10_000, floating_ip_limit: 100,
          email: second ? "other@sandbox.invalid" : "operator@sandbox.invalid", name: second ? "automna sandbox (second account)" : "automna sandbox",
          uuid: second ? "9c8b7a6f5e4d3c2b1a0f9e8d7c6b5a4f3e2d1c0b" : "5a4dbe8b0c6a4d0f9a0e6b7c2d1e3f4a5b6c7d8e", email_verified: true, status: "active", status_message: "",
          team: second ? { uuid: "7e6d5c4b3a29180f7e6d5c4b3a29180f7e6d5c4b", name: "second team" } : { uuid: "3f2e1d0c9b8a7f6e5d4c3b2a19081726354a5b6c", name: "automna sandbox" },
        },
      },
    };
  } };
}

function tagRoutes(env: SandboxEnv): Route[] {
  const tags = env.world.digitalocean.tags;
  const droplets = env.world.digitalocean.droplets;
  const render = (name: string, origin: string): Record<string, unknown> => {
    const tagged = [...droplets.values()].filter((d) => d.tags.includes(name));
    const last = tagged.at(-1);
    const droplet = { count: tagged.length, ...(last ? { last_tagged_uri: `${origin}/v2/droplets/${last.id}` } : {}) };
    return {
      name,
      resources: {
        count: tagged.length, ...(last ? { last_tagged_uri: droplet.last_tagged_uri } : {}),
        droplets: droplet, images: { count: 0 }, volumes: { count: 0 }, volume_snapshots: { count: 0 }, databases: { count: 0 },
      },
    };
  };
  const badTag = (name: string): Reply => ({
    status: 400,
    body: { error: `Error validating resource tag: "tag-name \\"${name}\\" contains invalid characters"`, messages: null, root_causes: [`tag name "${name}" is invalid`] },
  });
  const resources = (req: ApiRequest, add: boolean): Reply => {
    const name = req.params.tag!;
    if (!tags.has(name)) return notFound();
    const b = req.body;
    if (!isPlainObject(b) || !Array.isArray(b.resources) || b.resources.length === 0) return unprocessable("resources is required");
    for (const r of b.resources) {
      if (!isPlainObject(r) || r.resource_type !== "droplet") return unprocessable("resources: only droplet resources are supported");
      const d = droplets.get(Number(r.resource_id));
      if (!d) return notFound();
      if (add && !d.tags.includes(name)) d.tags = [...d.tags, name];
      if (!add) d.tags = d.tags.filter((t) => t !== name);
    }
    env.world.changed();
    return { status: 204 };
  };
  return [
    { method: "GET", pattern: "/v2/tags", name: "tags.list", handler: (req) => {
      const page = paginate([...tags], req.query, `${req.origin}/v2/tags`);
      if (isReply(page)) return page;
      return { status: 200, body: { tags: page.items.map((t) => render(t, req.origin)), links: page.links, meta: page.meta } };
    } },
    { method: "POST", pattern: "/v2/tags", name: "tags.create", handler: (req) => {
      const b = req.body;
      const name = isPlainObject(b) ? b.name : undefined;
      if (typeof name !== "string" || !TAG_NAME.test(name)) return badTag(String(name ?? ""));
      if (!tags.has(name)) {
        tags.add(name);
        env.world.changed();
      }
      return { status: 201, body: { tag: render(name, req.origin) } };
    } },
    { method: "GET", pattern: "/v2/tags/:tag", name: "tags.get", handler: (req) => {
      const name = req.params.tag!;
      return tags.has(name) ? { status: 200, body: { tag: render(name, req.origin) } } : notFound();
    } },
    { method: "DELETE", pattern: "/v2/tags/:tag", name: "tags.delete", handler: (req) => {
      const name = req.params.tag!;
      if (!tags.has(name)) return notFound();
      tags.delete(name);
      for (const d of droplets.values()) if (d.tags.includes(name)) d.tags = d.tags.filter((t) => t !== name);
      env.world.changed();
      return { status: 204 };
    } },
    { method: "POST", pattern: "/v2/tags/:tag/resources", name: "tags.tag", handler: (req) => resources(req, true) },
    { method: "DELETE", pattern: "/v2/tags/:tag/resources", name: "tags.untag", handler: (req) => resources(req, false) },
  ];
}

function catalogRoutes(): Route[] {
  const list = (path: string, key: string, all: readonly unknown[], render: (x: never) => unknown): Route => ({
    method: "GET", pattern: `/v2/${path}`, name: `${path}.list`, handler: (req) => {
      const page = paginate([...all], req.query, `${req.origin}/v2/${path}`);
      if (isReply(page)) return page;
      return { status: 200, body: { [key]: page.items.map((x) => render(x as never)), links: page.links, meta: page.meta } };
    },
  });
  return [list("sizes", "sizes", SIZES, renderSize), list("regions", "regions", REGIONS, renderRegion), list("images", "images", IMAGES, renderImage)];
}

/**
 * The DigitalOcean API stand-in (paths `/v2/...`). Budgets per token, as sliding windows: 5000
 * per hour and 250 per minute (each request counts for the full window), and 10 listings of
 * `/v2/account/keys` per minute. `ratelimit-*` headers on every response; the burst 429s carry
 * `retry-after`.
 */
export function digitaloceanApi(env: SandboxEnv): ProviderApi & { forceDelete(id: number): boolean } {
  const droplets = dropletRoutes(env);
  const scale = env.rateScale;
  const windows = new Map<string, { hour: SlidingWindow; minute: SlidingWindow; keys: SlidingWindow }>();
  const budget = (token: string | null) => {
    const key = token ?? "anonymous";
    let w = windows.get(key);
    if (!w) {
      w = { hour: new SlidingWindow(HOURLY, 3_600_000 / scale), minute: new SlidingWindow(PER_MINUTE, 60_000 / scale), keys: new SlidingWindow(KEYS_PER_MINUTE, 60_000 / scale) };
      windows.set(key, w);
    }
    return w;
  };
  const headers = (w: ReturnType<typeof budget>, now: number): Record<string, string> => ({
    "ratelimit-limit": String(HOURLY),
    "ratelimit-remaining": String(Math.min(w.hour.remaining(now), w.minute.remaining(now))),
    "ratelimit-reset": String(Math.ceil(w.hour.oldestExpiry(now) / 1000)),
  });
  const tooMany = (): Reply => doError(429, "too_many_requests", "API Rate limit exceeded.");
  const burst = (window: SlidingWindow, now: number): Reply => ({
    ...tooMany(), headers: { "retry-after": String(Math.max(1, Math.ceil((window.oldestExpiry(now) - now) / 1000))) },
  });
  return {
    provider: "digitalocean",
    routes: [...droplets.routes, accountRoute(env), ...sshKeyRoutes(env), ...tagRoutes(env), ...catalogRoutes()],
    otherTokens: env.secondAccountToken ? [env.secondAccountToken] : [],
    limit(token, route: MatchedRoute | null, now): Limit {
      const w = budget(token);
      if (!env.rateLimits) return { headers: headers(w, now) };
      if (w.hour.remaining(now) === 0) return { headers: headers(w, now), blocked: tooMany() };
      if (w.minute.remaining(now) === 0) return { headers: headers(w, now), blocked: burst(w.minute, now) };
      if (route?.route.name === "keys.list" && !w.keys.take(now)) return { headers: headers(w, now), blocked: burst(w.keys, now) };
      w.hour.take(now);
      w.minute.take(now);
      return { headers: headers(w, now) };
    },
    storm(token, now) {
      // A storm does not spend the real budget; it only looks exhausted while it lasts.
      const h = headers(budget(token), now);
      return { ...tooMany(), headers: { ...h, "ratelimit-remaining": "0", "retry-after": "1" } };
    },
    // DigitalOcean's body has no field list: a named field goes into the message.
    error: (status, message, field) => statusError(status, message ?? (field ? `${field} is invalid` : undefined)),
    unauthorized: () => doError(401, "unauthorized", "Unable to authenticate you."),
    notFound,
    badJson: () => doError(400, "bad_request", "error parsing request body"),
    decorate(reply) {
      const id = uuid();
      reply.headers = { ...reply.headers, "x-request-id": id };
      if (reply.status >= 400 && isPlainObject(reply.body) && typeof reply.body.id === "string") reply.body = { ...reply.body, request_id: id };
    },
    forceDelete: (id) => droplets.destroy(id),
  };
}
