import type { SandboxEnv } from "../env.js";
import { isReply, type ApiRequest, type Limit, type ProviderApi, type Reply, type Route } from "../http.js";
import { TokenBucket } from "../rate-limit.js";
import { parsePublicKey } from "../ssh-keys.js";
import { isPlainObject, isStringMap, isoOffset } from "../util.js";
import type { HetznerSshKey } from "../world-types.js";
import { HetznerActions, renderAction } from "./actions.js";
import { IMAGES, LOCATIONS, SERVER_TYPES, renderDatacenter, renderImage, renderLocation, renderPricing, renderServerType } from "./catalog.js";
import { hError, invalidInput, notFound, paginate, sortBy, statusError, uniqueness } from "./common.js";
import { labelProblem, parseLabelSelector } from "./labels.js";
import { forceDeleteServer, serverRoutes } from "./servers.js";

const LIMIT = 3600;

function renderKey(k: HetznerSshKey): Record<string, unknown> {
  return { id: k.id, name: k.name, fingerprint: k.fingerprint, public_key: k.publicKey, labels: k.labels, created: isoOffset(k.created) };
}

function sshKeyRoutes(env: SandboxEnv): Route[] {
  const keys = env.world.hetzner.sshKeys;
  const find = (req: ApiRequest): HetznerSshKey | Reply => {
    const id = req.params.id!;
    return (/^\d+$/.test(id) ? keys.get(Number(id)) : undefined) ?? notFound("ssh_key", id);
  };
  const checkLabels = (labels: unknown): Reply | null => {
    if (labels === undefined) return null;
    if (!isStringMap(labels)) return invalidInput([{ name: "labels", messages: ["must be a map of strings"] }]);
    const problem = labelProblem(labels);
    return problem ? invalidInput([{ name: "labels", messages: [problem] }]) : null;
  };
  return [
    { method: "GET", pattern: "/v1/ssh_keys", name: "ssh_keys.list", handler: (req) => {
      let items = [...keys.values()];
      const name = req.query.get("name");
      if (name !== null) items = items.filter((k) => k.name === name);
      const fingerprint = req.query.get("fingerprint");
      if (fingerprint !== null) items = items.filter((k) => k.fingerprint === fingerprint);
      const selector = req.query.get("label_selector");
      if (selector !== null) {
        const match = parseLabelSelector(selector);
        if (!match) return invalidInput([{ name: "label_selector", messages: ["invalid label selector"] }]);
        items = items.filter((k) => match(k.labels));
      }
      const sorted = sortBy(items, req.query, { id: (k) => k.id, name: (k) => k.name });
      if (isReply(sorted)) return sorted;
      const page = paginate(sorted, req.query, `${req.origin}/v1/ssh_keys`);
      if (isReply(page)) return page;
      return { status: 200, headers: { link: page.link }, body: { ssh_keys: page.items.map(renderKey), meta: page.meta } };
    } },
    { method: "POST", pattern: "/v1/ssh_keys", name: "ssh_keys.create", handler: (req) => {
      const b = req.body;
      if (!isPlainObject(b)) return invalidInput([{ name: "body", messages: ["must be a JSON object"] }]);
      const missing = ["name", "public_key"].filter((k) => typeof b[k] !== "string" || b[k] === "");
      if (missing.length) return invalidInput(missing.map((name) => ({ name, messages: ["Missing data for required field."] })));
      const parsed = parsePublicKey(b.public_key as string);
      if (!parsed) return invalidInput([{ name: "public_key", messages: ["invalid public key"] }]);
      const bad = checkLabels(b.labels);
      if (bad) return bad;
      for (const k of keys.values()) {
        if (k.fingerprint === parsed.fingerprint) return uniqueness("SSH key with the same fingerprint already exists", "public_key");
        if (k.name === b.name) return uniqueness("SSH key with the same name already exists", "name");
      }
      const key: HetznerSshKey = {
        id: env.world.nextId("hetzner.ssh_key"), name: b.name as string, publicKey: (b.public_key as string).trim(),
        fingerprint: parsed.fingerprint, labels: (b.labels as Record<string, string> | undefined) ?? {}, created: Date.now(),
      };
      keys.set(key.id, key);
      env.world.changed();
      return { status: 201, body: { ssh_key: renderKey(key) } };
    } },
    { method: "GET", pattern: "/v1/ssh_keys/:id", name: "ssh_keys.get", handler: (req) => {
      const k = find(req);
      return isReply(k) ? k : { status: 200, body: { ssh_key: renderKey(k) } };
    } },
    { method: "PUT", pattern: "/v1/ssh_keys/:id", name: "ssh_keys.update", handler: (req) => {
      const k = find(req);
      if (isReply(k)) return k;
      const b = req.body;
      if (!isPlainObject(b)) return invalidInput([{ name: "body", messages: ["must be a JSON object"] }]);
      const bad = checkLabels(b.labels);
      if (bad) return bad;
      if (b.name !== undefined) {
        if (typeof b.name !== "string" || b.name === "") return invalidInput([{ name: "name", messages: ["Not a valid string."] }]);
        for (const other of keys.values()) if (other.id !== k.id && other.name === b.name) return uniqueness("SSH key with the same name already exists", "name");
        k.name = b.name;
      }
      if (b.labels !== undefined) k.labels = { ...(b.labels as Record<string, string>) };
      env.world.changed();
      return { status: 200, body: { ssh_key: renderKey(k) } };
    } },
    { method: "DELETE", pattern: "/v1/ssh_keys/:id", name: "ssh_keys.delete", handler: (req) => {
      const k = find(req);
      if (isReply(k)) return k;
      keys.delete(k.id);
      env.world.changed();
      return { status: 204 };
    } },
  ];
}

/** A read-only catalogue list with `name` filter and pagination. */
function catalogList<T>(key: string, path: string, all: readonly T[], name: (t: T) => string, render: (t: T) => unknown, extra: Record<string, unknown> = {}): Route {
  return { method: "GET", pattern: `/v1/${path}`, name: `${path}.list`, handler: (req) => {
    const wanted = req.query.get("name");
    const items = wanted === null ? [...all] : all.filter((t) => name(t) === wanted);
    const page = paginate(items, req.query, `${req.origin}/v1/${path}`);
    if (isReply(page)) return page;
    return { status: 200, headers: { link: page.link }, body: { [key]: page.items.map(render), ...extra, meta: page.meta } };
  } };
}

function catalogGet<T extends { id: number }>(key: string, path: string, kind: string, all: readonly T[], render: (t: T) => unknown): Route {
  return { method: "GET", pattern: `/v1/${path}/:id`, name: `${path}.get`, handler: (req) => {
    const item = all.find((t) => String(t.id) === req.params.id);
    return item ? { status: 200, body: { [key]: render(item) } } : notFound(kind, req.params.id!);
  } };
}

function catalogRoutes(): Route[] {
  const datacenters = LOCATIONS.map((l) => ({ ...l, id: l.datacenter.id }));
  return [
    catalogList("server_types", "server_types", SERVER_TYPES, (t) => t.name, renderServerType),
    catalogGet("server_type", "server_types", "server_type", SERVER_TYPES, renderServerType),
    catalogList("locations", "locations", LOCATIONS, (l) => l.name, renderLocation),
    catalogGet("location", "locations", "location", LOCATIONS, renderLocation),
    catalogList("datacenters", "datacenters", datacenters, (d) => d.datacenter.name, renderDatacenter, { recommendation: datacenters[0]!.id }),
    catalogGet("datacenter", "datacenters", "datacenter", datacenters, renderDatacenter),
    { method: "GET", pattern: "/v1/images", name: "images.list", handler: (req) => {
      let items = [...IMAGES];
      const q = req.query;
      const name = q.get("name");
      if (name !== null) items = items.filter((i) => i.name === name);
      const types = q.getAll("type").flatMap((t) => t.split(","));
      if (types.length) items = items.filter((i) => types.includes(i.type));
      const arch = q.get("architecture");
      if (arch !== null) items = items.filter((i) => i.architecture === arch);
      const statuses = q.getAll("status").flatMap((t) => t.split(","));
      if (statuses.length && !statuses.includes("available")) items = [];
      const selector = q.get("label_selector");
      if (selector !== null) {
        const match = parseLabelSelector(selector);
        if (!match) return invalidInput([{ name: "label_selector", messages: ["invalid label selector"] }]);
        items = items.filter(() => match({}));
      }
      const sorted = sortBy(items, q, { id: (i) => i.id, name: (i) => i.name, created: (i) => i.created });
      if (isReply(sorted)) return sorted;
      const page = paginate(sorted, q, `${req.origin}/v1/images`);
      if (isReply(page)) return page;
      return { status: 200, headers: { link: page.link }, body: { images: page.items.map(renderImage), meta: page.meta } };
    } },
    catalogGet("image", "images", "image", IMAGES, renderImage),
    { method: "GET", pattern: "/v1/pricing", name: "pricing", handler: () => ({ status: 200, body: renderPricing() }) },
  ];
}

function actionRoutes(actions: HetznerActions): Route[] {
  return [
    { method: "GET", pattern: "/v1/actions", name: "actions.list", handler: (req) => {
      const ids = req.query.getAll("id");
      if (ids.length === 0) return invalidInput([{ name: "id", messages: ["Missing data for required field."] }]);
      if (ids.some((id) => !/^\d+$/.test(id))) return invalidInput([{ name: "id", messages: ["Not a valid integer."] }]);
      const found = ids.map((id) => actions.get(Number(id))).filter((a) => a !== undefined);
      return { status: 200, body: { actions: found.map((a) => renderAction(a)) } };
    } },
    { method: "GET", pattern: "/v1/actions/:id", name: "actions.get", handler: (req) => {
      const id = req.params.id!;
      const action = /^\d+$/.test(id) ? actions.get(Number(id)) : undefined;
      return action ? { status: 200, body: { action: renderAction(action) } } : notFound("action", id);
    } },
  ];
}

export interface HetznerApi extends ProviderApi {
  /** Deletes a server at once, behind automna's back (admin). */
  forceDelete(id: number): boolean;
}

/**
 * The Hetzner Cloud API stand-in (base `/v1`): one token bucket per token, 3600 requests,
 * refilling 1/s (times the scale), with `RateLimit-*` headers on every response.
 */
export function hetznerApi(env: SandboxEnv): HetznerApi {
  const actions = new HetznerActions(env);
  const buckets = new Map<string, TokenBucket>();
  const bucket = (token: string | null): TokenBucket => {
    const key = token ?? "anonymous";
    let b = buckets.get(key);
    if (!b) buckets.set(key, (b = new TokenBucket(LIMIT, env.rateScale)));
    return b;
  };
  const headers = (b: TokenBucket, now: number): Record<string, string> => ({
    "ratelimit-limit": String(LIMIT),
    "ratelimit-remaining": String(b.remaining(now)),
    "ratelimit-reset": String(Math.ceil((now + b.fullInMs(now)) / 1000)),
  });
  const tooMany = (): Reply => hError(429, "rate_limit_exceeded", "limit of 3600 requests per hour reached");
  return {
    provider: "hetzner",
    routes: [...serverRoutes(env, actions), ...sshKeyRoutes(env), ...catalogRoutes(), ...actionRoutes(actions)],
    limit(token, _route, now): Limit {
      const b = bucket(token);
      if (!env.rateLimits) return { headers: headers(b, now) };
      const ok = b.take(now);
      return ok ? { headers: headers(b, now) } : { headers: headers(b, now), blocked: tooMany() };
    },
    storm(token, now) {
      // A storm does not spend the real budget; it only looks exhausted while it lasts.
      const h = headers(bucket(token), now);
      return { ...tooMany(), headers: { ...h, "ratelimit-remaining": "0", "ratelimit-reset": String(Math.ceil(now / 1000) + 1) } };
    },
    error: (status, message, field) => statusError(status, message, field),
    unauthorized: () => hError(401, "unauthorized", "unable to authenticate"),
    notFound: () => hError(404, "not_found", "not found"),
    badJson: () => hError(400, "json_error", "Invalid JSON input in your request"),
    forceDelete: (id) => forceDeleteServer(env, actions, id),
  };
}
