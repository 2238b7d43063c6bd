import type { SandboxEnv } from "../env.js";
import { isReply, type ApiRequest, type Reply, type Route } from "../http.js";
import { isPlainObject, isStringMap, isoOffset, randomAlnum, randomHex } from "../util.js";
import type { HetznerServer } from "../world-types.js";
import { renderAction, type HetznerActions } from "./actions.js";
import {
  IMAGES, LOCATIONS, findImage, findLocation, findServerType, includedTraffic, renderDatacenter, renderImage,
  renderLocation, renderServerType,
} from "./catalog.js";
import { hError, invalidInput, locked, notFound, paginate, sortBy, uniqueness } from "./common.js";
import { labelProblem, parseLabelSelector } from "./labels.js";

const USER_DATA_MAX = 32 * 1024;
const HOSTNAME = /^(?=.{1,253}$)[a-zA-Z0-9](?:[a-zA-Z0-9-]{0,61}[a-zA-Z0-9])?(?:\.[a-zA-Z0-9](?:[a-zA-Z0-9-]{0,61}[a-zA-Z0-9])?)*$/;
const STATUSES = ["running", "initializing", "starting", "stopping", "off", "deleting", "migrating", "rebuilding", "unknown"];

/** Power actions: path verb -> Hetzner command, and the status while it runs. */
const POWER: Record<string, { command: string; during: HetznerServer["status"] | null }> = {
  poweron: { command: "start_server", during: "starting" },
  poweroff: { command: "stop_server", during: "stopping" },
  shutdown: { command: "shutdown_server", during: "stopping" },
  reboot: { command: "reboot_server", during: null },
  reset: { command: "reset_server", during: null },
};

export function renderServer(s: HetznerServer, actions: HetznerActions): Record<string, unknown> {
  const type = findServerType(s.serverType)!;
  const location = findLocation(s.location)!;
  const image = IMAGES.find((i) => i.id === s.imageId);
  return {
    id: s.id,
    name: s.name,
    status: s.status,
    created: isoOffset(s.created),
    public_net: {
      ipv4: { id: s.ipv4Id, ip: s.ipv4, blocked: false, dns_ptr: `static.${s.ipv4.split(".").reverse().join(".")}.clients.your-server.de` },
      ipv6: { id: s.ipv6Id, ip: s.ipv6, blocked: false, dns_ptr: [] },
      floating_ips: [],
      firewalls: [],
    },
    private_net: [],
    server_type: renderServerType(type),
    datacenter: renderDatacenter(location),
    location: renderLocation(location),
    image: image ? renderImage(image) : null,
    iso: null,
    rescue_enabled: false,
    locked: actions.busy(s.id),
    backup_window: null,
    outgoing_traffic: 0,
    ingoing_traffic: 0,
    included_traffic: includedTraffic(s.location),
    protection: { delete: false, rebuild: false },
    labels: s.labels,
    volumes: [],
    load_balancers: [],
    primary_disk_size: type.disk,
    placement_group: null,
  };
}

/**
 * An "ID or name" field as the real API takes it: a name, an ID as a string, or an ID as a JSON
 * integer. undefined when absent (or null), null when it is neither.
 */
export function idOrName(value: unknown): string | undefined | null {
  if (value === undefined || value === null) return undefined;
  if (typeof value === "string") return value;
  if (typeof value === "number" && Number.isSafeInteger(value) && value > 0) return String(value);
  return null;
}

/** Parses `ssh_keys` (ids or names) against the project's keys. */
function resolveSshKeys(env: SandboxEnv, refs: unknown): number[] | Reply {
  if (refs === undefined) return [];
  if (!Array.isArray(refs)) return invalidInput([{ name: "ssh_keys", messages: ["must be an array"] }]);
  const ids: number[] = [];
  for (const ref of refs) {
    const id = idOrName(ref);
    if (id === undefined || id === null) return invalidInput([{ name: "ssh_keys", messages: ["must contain ids or names"] }]);
    const key = [...env.world.hetzner.sshKeys.values()].find((k) => String(k.id) === id || k.name === ref);
    if (!key) return invalidInput([{ name: "ssh_keys", messages: [`ssh key '${ref}' not found`] }]);
    ids.push(key.id);
  }
  return ids;
}

export function serverRoutes(env: SandboxEnv, actions: HetznerActions): Route[] {
  const servers = env.world.hetzner.servers;
  const hostOf = (s: HetznerServer) => env.hosts.host("hetzner", s.id, s.name, s.ipv4);
  const names = env.world.hetzner.serverNames;
  const byName = (name: string): HetznerServer | undefined => {
    const id = names.get(name);
    return id === undefined ? undefined : servers.get(id);
  };
  const find = (req: ApiRequest): HetznerServer | Reply => {
    const id = req.params.id!;
    const server = /^\d+$/.test(id) ? servers.get(Number(id)) : undefined;
    return server ?? notFound("server", id);
  };

  actions.onFinish("create_server", (a) => {
    const s = servers.get(a.resources[0]!.id);
    if (s && s.status === "initializing") s.status = actions.busy(s.id) ? "starting" : "off";
  });
  const up = (a: { resources: { id: number }[] }): void => {
    const s = servers.get(a.resources[0]!.id);
    if (!s || s.status === "deleting") return;
    s.status = "running";
    s.agentUp = true;
    void env.hosts.set(hostOf(s), true);
  };
  actions.onFinish("start_server", up);
  actions.onFinish("reboot_server", (a) => servers.get(a.resources[0]!.id)?.status === "running" && up(a));
  actions.onFinish("reset_server", (a) => servers.get(a.resources[0]!.id)?.status === "running" && up(a));
  const off = (a: { resources: { id: number }[] }): void => {
    const s = servers.get(a.resources[0]!.id);
    if (!s || s.status === "deleting") return;
    s.status = "off";
    s.agentUp = false;
    void env.hosts.set(hostOf(s), false);
  };
  actions.onFinish("stop_server", off);
  actions.onFinish("shutdown_server", off);
  actions.onFinish("delete_server", (a) => {
    const s = servers.get(a.resources[0]!.id);
    if (!s) return;
    servers.delete(s.id);
    names.delete(s.name);
    actions.forget(s.id);
    void env.hosts.destroy(hostOf(s));
  });

  const create = async (req: ApiRequest): Promise<Reply> => {
    const b = req.body;
    if (!isPlainObject(b)) return invalidInput([{ name: "body", messages: ["must be a JSON object"] }]);
    const missing = ["name", "server_type", "image"].filter((k) => b[k] === undefined || b[k] === null || b[k] === "");
    if (missing.length) return invalidInput(missing.map((name) => ({ name, messages: ["Missing data for required field."] })));
    for (const k of ["name", "user_data"]) {
      if (b[k] !== undefined && b[k] !== null && typeof b[k] !== "string") return invalidInput([{ name: k, messages: ["Not a valid string."] }]);
    }
    // "ID or name" fields: hcloud-go and the CLI send the resolved ID as a JSON number.
    const refs: Record<string, string | undefined> = {};
    for (const k of ["server_type", "image", "location", "datacenter"]) {
      const ref = idOrName(b[k]);
      if (ref === null) return invalidInput([{ name: k, messages: ["Not a valid ID or name."] }]);
      refs[k] = ref;
    }
    const name = b.name as string;
    if (!HOSTNAME.test(name)) return invalidInput([{ name: "name", messages: ["must be a valid hostname"] }]);
    const type = findServerType(refs.server_type!);
    if (!type) return invalidInput([{ name: "server_type", messages: [`server type '${refs.server_type}' not found`] }]);
    let locationName: string;
    if (refs.location !== undefined) {
      const location = findLocation(refs.location);
      if (!location) return invalidInput([{ name: "location", messages: [`location '${refs.location}' not found`] }]);
      locationName = location.name;
    } else if (refs.datacenter !== undefined) {
      const location = LOCATIONS.find((l) => l.datacenter.name === refs.datacenter || String(l.datacenter.id) === refs.datacenter);
      if (!location) return invalidInput([{ name: "datacenter", messages: [`datacenter '${refs.datacenter}' not found`] }]);
      locationName = location.name;
    } else locationName = type.locations[0]!;
    if (!type.locations.includes(locationName)) return invalidInput([{ name: "server_type", messages: [`server type '${type.name}' is not available in location '${locationName}'`] }]);
    const image = findImage(refs.image!, type.architecture);
    if (!image) return invalidInput([{ name: "image", messages: [`image '${String(b.image)}' not found`] }]);
    if (b.start_after_create !== undefined && typeof b.start_after_create !== "boolean") return invalidInput([{ name: "start_after_create", messages: ["Not a valid boolean."] }]);
    if (typeof b.user_data === "string" && Buffer.byteLength(b.user_data) > USER_DATA_MAX) return invalidInput([{ name: "user_data", messages: ["user_data is limited to 32 KiB"] }]);
    if (b.labels !== undefined) {
      if (!isStringMap(b.labels)) return invalidInput([{ name: "labels", messages: ["must be a map of strings"] }]);
      const problem = labelProblem(b.labels);
      if (problem) return invalidInput([{ name: "labels", messages: [problem] }]);
    }
    for (const k of ["networks", "volumes", "firewalls"]) {
      if (b[k] !== undefined && (!Array.isArray(b[k]) || (b[k] as unknown[]).length > 0)) return invalidInput([{ name: k, messages: [`${k} not found`] }]);
    }
    if (b.placement_group !== undefined && b.placement_group !== null) return invalidInput([{ name: "placement_group", messages: ["placement group not found"] }]);
    const keys = resolveSshKeys(env, b.ssh_keys);
    if (!Array.isArray(keys)) return keys;
    const limit = env.limits?.hetzner;
    if (limit !== undefined && servers.size >= limit) return hError(403, "resource_limit_exceeded", `server limit exceeded (${limit} servers in this project)`, { limits: [{ name: "server_limit" }] });
    if (byName(name)) return uniqueness("server name is already used", "name");
    const address = await env.hosts.allocate();
    if (byName(name)) {
      env.hosts.release(address);
      return uniqueness("server name is already used", "name");
    }
    const now = Date.now();
    const server: HetznerServer = {
      id: env.world.nextId("hetzner.server"),
      name,
      serverType: type.name,
      location: locationName,
      imageId: image.id,
      labels: (b.labels as Record<string, string> | undefined) ?? {},
      status: "initializing",
      created: now,
      ipv4: address,
      ipv4Id: env.world.nextId("hetzner.ip"),
      ipv6: `2a01:4f8:c0c:${randomHex(4)}::/64`,
      ipv6Id: env.world.nextId("hetzner.ip"),
      sshKeys: keys,
      userData: (b.user_data as string | undefined) ?? null,
      agentUp: false,
    };
    servers.set(server.id, server);
    names.set(server.name, server.id);
    const createAction = actions.start("create_server", server.id, env.delayMs);
    const next = b.start_after_create === false ? [] : [actions.start("start_server", server.id, env.delayMs * 2)];
    env.world.changed();
    return {
      status: 201,
      body: {
        server: renderServer(server, actions),
        action: renderAction(createAction),
        next_actions: next.map((a) => renderAction(a)),
        root_password: keys.length ? null : randomAlnum(20, "abcdefghijkmnopqrstuvwxyzABCDEFGHJKLMNPQRSTUVWXYZ23456789"),
      },
    };
  };

  const list = (req: ApiRequest): Reply => {
    const name = req.query.get("name");
    let items = name === null ? [...servers.values()] : [byName(name)].filter((s) => s !== undefined);
    const selector = req.query.get("label_selector");
    if (selector !== null) {
      const match = parseLabelSelector(selector);
      if (!match) return invalidInput([{ name: "label_selector", messages: ["invalid label selector"] }]);
      items = items.filter((s) => match(s.labels));
    }
    const statuses = req.query.getAll("status").flatMap((s) => s.split(","));
    if (statuses.some((s) => !STATUSES.includes(s))) return invalidInput([{ name: "status", messages: ["invalid status"] }]);
    if (statuses.length) items = items.filter((s) => statuses.includes(s.status));
    const sorted = sortBy(items, req.query, { id: (s) => s.id, name: (s) => s.name, created: (s) => s.created });
    if (isReply(sorted)) return sorted;
    const page = paginate(sorted, req.query, `${req.origin}/v1/servers`);
    if (isReply(page)) return page;
    return { status: 200, headers: { link: page.link }, body: { servers: page.items.map((s) => renderServer(s, actions)), meta: page.meta } };
  };

  const update = (req: ApiRequest): Reply => {
    const s = find(req);
    if (isReply(s)) return s;
    const b = req.body;
    if (!isPlainObject(b)) return invalidInput([{ name: "body", messages: ["must be a JSON object"] }]);
    if (b.name !== undefined) {
      if (typeof b.name !== "string" || !HOSTNAME.test(b.name)) return invalidInput([{ name: "name", messages: ["must be a valid hostname"] }]);
      const other = byName(b.name);
      if (other && other.id !== s.id) return uniqueness("server name is already used", "name");
    }
    if (b.labels !== undefined) {
      if (!isStringMap(b.labels)) return invalidInput([{ name: "labels", messages: ["must be a map of strings"] }]);
      const problem = labelProblem(b.labels);
      if (problem) return invalidInput([{ name: "labels", messages: [problem] }]);
      s.labels = { ...b.labels };
    }
    if (typeof b.name === "string") {
      names.delete(s.name);
      s.name = b.name;
      names.set(s.name, s.id);
    }
    env.world.changed();
    return { status: 200, body: { server: renderServer(s, actions) } };
  };

  const remove = (req: ApiRequest): Reply => {
    const s = find(req);
    if (isReply(s)) return s;
    const first = s.status !== "deleting";
    s.status = "deleting";
    if (s.agentUp) {
      s.agentUp = false;
      void env.hosts.set(hostOf(s), false);
    }
    const existing = actions.forServer(s.id).find((a) => a.command === "delete_server" && a.status === "running");
    const action = !first && existing ? existing : actions.start("delete_server", s.id, env.delayMs);
    env.world.changed();
    return { status: 200, body: { action: renderAction(action) } };
  };

  const power = (req: ApiRequest): Reply => {
    const s = find(req);
    if (isReply(s)) return s;
    const verb = POWER[req.params.action!];
    if (!verb) return hError(404, "not_found", `action '${req.params.action}' not found`);
    if (s.status === "deleting") return locked("server");
    if (actions.busy(s.id)) return locked("server");
    const action = actions.start(verb.command, s.id, env.delayMs);
    if (verb.during && !(verb.during === "starting" && s.status === "running") && !(verb.during === "stopping" && s.status === "off")) s.status = verb.during;
    // A hard power-off or reset drops the agent at once; a reboot drops it until it is back.
    if (s.agentUp && verb.command !== "start_server" && verb.command !== "shutdown_server") {
      s.agentUp = false;
      void env.hosts.set(hostOf(s), false);
    }
    env.world.changed();
    return { status: 201, body: { action: renderAction(action) } };
  };

  const serverActions = (req: ApiRequest): Reply => {
    const s = find(req);
    if (isReply(s)) return s;
    const page = paginate(actions.forServer(s.id), req.query, `${req.origin}/v1/servers/${s.id}/actions`);
    if (isReply(page)) return page;
    return { status: 200, headers: { link: page.link }, body: { actions: page.items.map((a) => renderAction(a)), meta: page.meta } };
  };

  const serverAction = (req: ApiRequest): Reply => {
    const s = find(req);
    if (isReply(s)) return s;
    const id = req.params.action_id!;
    const action = /^\d+$/.test(id) ? actions.get(Number(id)) : undefined;
    if (!action || !action.resources.some((r) => r.type === "server" && r.id === s.id)) return notFound("action", id);
    return { status: 200, body: { action: renderAction(action) } };
  };

  return [
    { method: "GET", pattern: "/v1/servers", name: "servers.list", handler: list },
    { method: "POST", pattern: "/v1/servers", name: "servers.create", handler: create },
    { method: "GET", pattern: "/v1/servers/:id", name: "servers.get", handler: (req) => {
      const s = find(req);
      return isReply(s) ? s : { status: 200, body: { server: renderServer(s, actions) } };
    } },
    { method: "PUT", pattern: "/v1/servers/:id", name: "servers.update", handler: update },
    { method: "DELETE", pattern: "/v1/servers/:id", name: "servers.delete", handler: remove },
    { method: "GET", pattern: "/v1/servers/:id/actions", name: "servers.actions", handler: serverActions },
    { method: "POST", pattern: "/v1/servers/:id/actions/:action", name: "servers.power", values: { action: Object.keys(POWER) }, handler: power },
    { method: "GET", pattern: "/v1/servers/:id/actions/:action_id", name: "servers.action", handler: serverAction },
  ];
}

/** Removes a server at once, as if deleted in the console behind automna's back. */
export function forceDeleteServer(env: SandboxEnv, actions: HetznerActions, id: number): boolean {
  const s = env.world.hetzner.servers.get(id);
  if (!s) return false;
  env.world.hetzner.servers.delete(id);
  env.world.hetzner.serverNames.delete(s.name);
  actions.forget(id);
  void env.hosts.destroy(env.hosts.host("hetzner", s.id, s.name, s.ipv4));
  env.world.changed();
  return true;
}
