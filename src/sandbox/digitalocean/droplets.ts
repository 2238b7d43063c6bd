import type { SandboxEnv } from "../env.js";
import { isReply, type ApiRequest, type Reply, type Route } from "../http.js";
import { isPlainObject, isoSeconds, uuid } from "../util.js";
import type { DoAction, DoDroplet } from "../world-types.js";
import { REGIONS, findImage, findRegion, findSize, renderImage, renderRegion, renderSize } from "./catalog.js";
import { TAG_NAME, accountOf, notFound, paginate, unprocessable } from "./common.js";

const USER_DATA_MAX = 64 * 1024;
const NAME = /^[a-zA-Z0-9]?[a-z0-9A-Z.-]*[a-z0-9A-Z]$/;
const ACTION_TYPES = new Set([
  "enable_backups", "disable_backups", "change_backup_policy", "reboot", "power_cycle", "shutdown", "power_off", "power_on",
  "restore", "password_reset", "resize", "rebuild", "rename", "change_kernel", "enable_ipv6", "snapshot",
]);

export function renderAction(a: DoAction): Record<string, unknown> {
  const region = REGIONS.find((r) => r.slug === a.region);
  return {
    id: a.id, status: a.status, type: a.type, started_at: isoSeconds(a.started), completed_at: a.completed === null ? null : isoSeconds(a.completed),
    resource_id: a.resourceId, resource_type: a.resourceType, region: region ? renderRegion(region) : null, region_slug: a.region,
  };
}

export function renderDroplet(d: DoDroplet): Record<string, unknown> {
  const size = findSize(d.size)!;
  const image = findImage(d.imageId)!;
  const region = REGIONS.find((r) => r.slug === d.region)!;
  return {
    id: d.id, name: d.name, memory: size.memory, vcpus: size.vcpus, disk: size.disk,
    disk_info: [{ type: "local", size: { amount: size.disk, unit: "gib" } }],
    locked: d.locked, status: d.status, kernel: null, created_at: isoSeconds(d.created),
    features: ["droplet_agent", "private_networking"], backup_ids: [], next_backup_window: null, snapshot_ids: [],
    image: renderImage(image), volume_ids: [], size: renderSize(size), size_slug: size.slug,
    networks: {
      v4: d.networkReady ? [{ ip_address: d.ipv4, netmask: "255.255.0.0", gateway: d.ipv4.replace(/\.\d+\.\d+$/, ".0.1"), type: "public" }] : [],
      v6: [],
    },
    region: renderRegion(region), tags: d.tags, vpc_uuid: d.vpcUuid,
  };
}

export interface DropletHelpers {
  routes: Route[];
  /** Deletes a droplet at once (API delete, delete by tag, admin). */
  destroy(id: number): boolean;
}

export function dropletRoutes(env: SandboxEnv): DropletHelpers {
  const droplets = env.world.digitalocean.droplets;
  const actions = env.world.digitalocean.actions;
  const hostOf = (d: DoDroplet) => env.hosts.host("digitalocean", d.id, d.name, d.ipv4);
  /** An account sees its own droplets only: another's are 404, as if they did not exist. */
  const mine = (req: ApiRequest) => (d: DoDroplet): boolean => d.account === accountOf(env, req);
  const find = (req: ApiRequest): DoDroplet | Reply => {
    const id = req.params.id!;
    const d = /^\d+$/.test(id) ? droplets.get(Number(id)) : undefined;
    return d && mine(req)(d) ? d : notFound();
  };
  const startAction = (d: DoDroplet, type: string): DoAction => {
    const now = Date.now();
    const action: DoAction = {
      id: env.world.nextId("do.action"), type, status: "in-progress", started: now, completed: null, due: now + env.delayMs,
      resourceId: d.id, resourceType: "droplet", region: d.region,
    };
    actions.set(action.id, action);
    env.timeline.add("do.action", action.id, env.delayMs);
    return action;
  };
  const setAgent = (d: DoDroplet, up: boolean): void => {
    if (d.agentUp === up) return;
    d.agentUp = up;
    void env.hosts.set(hostOf(d), up);
  };

  env.timeline.on("do.action", (ref) => {
    const a = actions.get(Number(ref));
    if (!a || a.status !== "in-progress") return;
    a.status = "completed";
    a.completed = Date.now();
    const d = droplets.get(a.resourceId);
    if (!d) return;
    d.locked = false;
    switch (a.type) {
      case "create":
        d.status = "active";
        d.networkReady = true;
        setAgent(d, true);
        break;
      case "power_on":
      case "reboot":
      case "power_cycle":
        d.status = "active";
        setAgent(d, true);
        break;
      case "power_off":
      case "shutdown":
        d.status = "off";
        setAgent(d, false);
        break;
    }
  });

  const destroy = (id: number): boolean => {
    const d = droplets.get(id);
    if (!d) return false;
    droplets.delete(id);
    void env.hosts.destroy(hostOf(d));
    env.world.changed();
    return true;
  };

  const create = async (req: ApiRequest): Promise<Reply> => {
    const b = req.body;
    if (!isPlainObject(b)) return unprocessable("request payload validation failed: body must be a JSON object");
    let names: string[];
    if (b.names !== undefined) {
      if (!Array.isArray(b.names) || b.names.length === 0 || b.names.length > 10 || !b.names.every((n) => typeof n === "string")) {
        return unprocessable("names must be an array of 1 to 10 Droplet names");
      }
      names = b.names as string[];
    } else if (typeof b.name === "string") names = [b.name];
    else return unprocessable("name is required");
    for (const name of names) {
      if (name.length > 255 || !NAME.test(name)) return unprocessable(`name: "${name}" is invalid: only valid hostname characters are allowed (a-z, A-Z, 0-9, . and -)`);
    }
    if (typeof b.size !== "string" || b.size === "") return unprocessable("size is required");
    const size = findSize(b.size);
    if (!size) return unprocessable(`You specified an invalid size for Droplet creation: size "${b.size}" not found`);
    if (b.image === undefined || b.image === null || b.image === "") return unprocessable("image is required");
    const image = typeof b.image === "string" || typeof b.image === "number" ? findImage(b.image) : undefined;
    if (!image) return unprocessable(`You specified an invalid image for Droplet creation: image "${String(b.image)}" not found`);
    let regionSlug: string;
    if (b.region !== undefined && b.region !== null && b.region !== "") {
      const region = typeof b.region === "string" ? findRegion(b.region) : undefined;
      if (!region) return unprocessable(`You specified an invalid region for Droplet creation: region "${String(b.region)}" not found`);
      regionSlug = region.slug;
    } else regionSlug = size.regions[0]!;
    if (!size.regions.includes(regionSlug)) return unprocessable(`size: ${size.slug} is not available in region ${regionSlug}`);
    if (size.disk < image.minDisk) return unprocessable(`size: ${size.slug} is too small for image ${image.slug}`);
    const limit = env.limits?.digitalocean;
    if (limit !== undefined && env.world.digitalocean.droplets.size + (Array.isArray(b.names) ? b.names.length : 1) > limit) {
      return unprocessable(`creating this/these droplet(s) will exceed your droplet limit (${limit})`);
    }
    const sshKeys: number[] = [];
    if (b.ssh_keys !== undefined) {
      if (!Array.isArray(b.ssh_keys)) return unprocessable("ssh_keys must be an array of ids or fingerprints");
      for (const ref of b.ssh_keys) {
        const key = [...env.world.digitalocean.sshKeys.values()].find((k) => k.id === ref || String(k.id) === String(ref) || k.fingerprint === ref);
        if (!key) return unprocessable(`ssh_keys: key "${String(ref)}" not found`);
        sshKeys.push(key.id);
      }
    }
    let tags: string[] = [];
    if (b.tags !== undefined && b.tags !== null) {
      if (!Array.isArray(b.tags) || !b.tags.every((t) => typeof t === "string")) return unprocessable("tags must be an array of strings");
      const bad = (b.tags as string[]).find((t) => !TAG_NAME.test(t));
      if (bad !== undefined) return unprocessable(`tags: "${bad}" is invalid: tag names may contain letters, numbers, colons, dashes and underscores, up to 255 characters`);
      tags = [...new Set(b.tags as string[])];
    }
    if (b.user_data !== undefined && b.user_data !== null) {
      if (typeof b.user_data !== "string") return unprocessable("user_data must be a string");
      if (Buffer.byteLength(b.user_data) > USER_DATA_MAX) return unprocessable("user_data: must be at most 64 KiB");
    }
    if (b.vpc_uuid !== undefined && typeof b.vpc_uuid !== "string") return unprocessable("vpc_uuid must be a string");
    if (b.volumes !== undefined && (!Array.isArray(b.volumes) || b.volumes.length > 0)) return unprocessable("volumes: volume not found");

    const created: { droplet: DoDroplet; action: DoAction }[] = [];
    for (const name of names) {
      const address = await env.hosts.allocate();
      const droplet: DoDroplet = {
        id: env.world.nextId("do.droplet"), name, size: size.slug, region: regionSlug, imageId: image.id, tags,
        status: "new", locked: false, created: Date.now(), ipv4: address, networkReady: false, sshKeys,
        userData: (b.user_data as string | undefined) ?? null, vpcUuid: (b.vpc_uuid as string | undefined) ?? uuid(), agentUp: false,
        ...(accountOf(env, req) ? { account: accountOf(env, req) } : {}),
      };
      droplets.set(droplet.id, droplet);
      for (const t of tags) env.world.digitalocean.tags.add(t);
      created.push({ droplet, action: startAction(droplet, "create") });
    }
    env.world.changed();
    const links = { actions: created.map(({ action }) => ({ id: action.id, rel: "create", href: `${req.origin}/v2/actions/${action.id}` })) };
    if (b.names !== undefined) return { status: 202, body: { droplets: created.map(({ droplet }) => renderDroplet(droplet)), links } };
    return { status: 202, body: { droplet: renderDroplet(created[0]!.droplet), links } };
  };

  const list = (req: ApiRequest): Reply => {
    const q = req.query;
    const tag = q.get("tag_name");
    const name = q.get("name");
    const type = q.get("type");
    if (tag !== null && (name !== null || type !== null)) return unprocessable("tag_name can not be combined with name or type");
    if (type !== null && type !== "droplets" && type !== "gpus") return unprocessable("type must be droplets or gpus");
    let items = [...droplets.values()].filter(mine(req));
    if (tag !== null) items = items.filter((d) => d.tags.includes(tag));
    if (name !== null) items = items.filter((d) => d.name.toLowerCase() === name.toLowerCase());
    if (type === "gpus") items = [];
    const page = paginate(items, q, `${req.origin}/v2/droplets`);
    if (isReply(page)) return page;
    return { status: 200, body: { droplets: page.items.map(renderDroplet), links: page.links, meta: page.meta } };
  };

  const postAction = (req: ApiRequest): Reply => {
    const d = find(req);
    if (isReply(d)) return d;
    const b = req.body;
    if (!isPlainObject(b) || typeof b.type !== "string") return unprocessable("type is required");
    if (!ACTION_TYPES.has(b.type)) return unprocessable(`type: "${b.type}" is not a valid action type`);
    if (d.status === "new" || d.locked) return unprocessable("Droplet already has a pending event.");
    if (b.type === "rename") {
      if (typeof b.name !== "string" || !NAME.test(b.name)) return unprocessable("name is invalid");
      d.name = b.name;
    }
    const action = startAction(d, b.type);
    d.locked = true;
    if (b.type === "power_off" || b.type === "reboot" || b.type === "power_cycle") setAgent(d, false);
    env.world.changed();
    return { status: 201, body: { action: renderAction(action) } };
  };

  const dropletActions = (req: ApiRequest): Reply => {
    const d = find(req);
    if (isReply(d)) return d;
    const items = [...actions.values()].filter((a) => a.resourceType === "droplet" && a.resourceId === d.id);
    const page = paginate(items, req.query, `${req.origin}/v2/droplets/${d.id}/actions`);
    if (isReply(page)) return page;
    return { status: 200, body: { actions: page.items.map(renderAction), links: page.links, meta: page.meta } };
  };

  return {
    destroy,
    routes: [
      { method: "GET", pattern: "/v2/droplets", name: "droplets.list", handler: list },
      { method: "POST", pattern: "/v2/droplets", name: "droplets.create", handler: create },
      { method: "DELETE", pattern: "/v2/droplets", name: "droplets.delete_by_tag", handler: (req) => {
        const tag = req.query.get("tag_name");
        if (!tag) return unprocessable("tag_name is required");
        for (const d of [...droplets.values()].filter(mine(req))) if (d.tags.includes(tag)) destroy(d.id);
        return { status: 204 };
      } },
      { method: "GET", pattern: "/v2/droplets/:id", name: "droplets.get", handler: (req) => {
        const d = find(req);
        return isReply(d) ? d : { status: 200, body: { droplet: renderDroplet(d) } };
      } },
      { method: "DELETE", pattern: "/v2/droplets/:id", name: "droplets.delete", handler: (req) => {
        const d = find(req);
        if (isReply(d)) return d;
        destroy(d.id);
        return { status: 204 };
      } },
      { method: "GET", pattern: "/v2/droplets/:id/actions", name: "droplet_actions.list", handler: dropletActions },
      { method: "POST", pattern: "/v2/droplets/:id/actions", name: "droplet_actions.post", handler: postAction },
      { method: "GET", pattern: "/v2/droplets/:id/actions/:action_id", name: "droplet_actions.get", handler: (req) => {
        const d = find(req);
        if (isReply(d)) return d;
        const a = actions.get(Number(req.params.action_id));
        return a && a.resourceId === d.id ? { status: 200, body: { action: renderAction(a) } } : notFound();
      } },
      { method: "GET", pattern: "/v2/actions", name: "actions.list", handler: (req) => {
        const page = paginate([...actions.values()], req.query, `${req.origin}/v2/actions`);
        if (isReply(page)) return page;
        return { status: 200, body: { actions: page.items.map(renderAction), links: page.links, meta: page.meta } };
      } },
      { method: "GET", pattern: "/v2/actions/:id", name: "actions.get", handler: (req) => {
        const id = req.params.id!;
        const a = /^\d+$/.test(id) ? actions.get(Number(id)) : undefined;
        return a ? { status: 200, body: { action: renderAction(a) } } : notFound();
      } },
    ],
  };
}
