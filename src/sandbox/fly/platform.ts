import type { SandboxEnv } from "../env.js";
import { isReply, type ApiRequest, type Reply, type Route } from "../http.js";
import { isoSeconds } from "../util.js";
import type { FlyMachine } from "../world-types.js";
import { DEFAULT_REGION, ORGS, REGION_ROWS, badRequest, cursorPage, flyError } from "./common.js";

/** Org machine lists take at most 1000 per page, and the maximum when `limit` is omitted (spec). */
const ORG_PAGE_MAX = 1000;
const ORG_STATES = new Set(["created", "started", "stopped", "suspended"]);

/** `OrgMachine`: a machine with its app's name and an overview of its config (no mounts). */
function renderOrgMachine(m: FlyMachine, summary: boolean): Record<string, unknown> {
  const c = m.config;
  return {
    id: m.id, name: m.name, app_name: m.app, state: m.state, region: m.region, private_ip: m.privateIp, version: m.version,
    created_at: isoSeconds(m.created), updated_at: isoSeconds(m.updated),
    ...(summary ? {} : { config: { image: c.image, guest: c.guest, metadata: c.metadata ?? {} } }),
  };
}

/**
 * Org- and platform-level routes of the Machines API: `GET /v1/platform/regions`
 * (`main.regionResponse`) and `GET /v1/orgs/{org_slug}/machines` (`OrgMachinesResponse`, cursor
 * in the body). The spec sorts org machines by `updated_at` and warns that pages are not strictly
 * ordered; the sandbox pages them by creation so a page boundary is stable while machines change.
 */
export function platformRoutes(env: SandboxEnv): Route[] {
  const regions = (): Reply => ({
    status: 200,
    body: {
      nearest: DEFAULT_REGION,
      regions: REGION_ROWS.map((r) => ({
        code: r.code, name: r.name, geo_region: r.geo, latitude: r.lat, longitude: r.lon,
        deprecated: false, requires_paid_plan: false, gateway_available: true, mpg_available: false,
      })),
    },
  });

  const orgMachines = (req: ApiRequest): Reply => {
    const org = req.params.org!;
    if (!ORGS[org]) return flyError(404, `organization ${org} not found`);
    const q = req.query;
    const includeDeleted = q.get("include_deleted") === "true";
    const region = q.get("region");
    const states = q.get("state")?.split(",").filter(Boolean) ?? [];
    const bad = states.find((s) => !ORG_STATES.has(s));
    if (bad) return badRequest(`invalid state "${bad}": must be created, started, stopped or suspended`);
    const after = q.get("updated_after");
    const afterMs = after === null ? null : Date.parse(after);
    if (afterMs !== null && Number.isNaN(afterMs)) return badRequest("updated_after must be an RFC 3339 timestamp");
    const appsOfOrg = new Set([...env.world.fly.apps.values()].filter((a) => a.org === org).map((a) => a.name));
    const items = [...env.world.fly.machines.values()].filter((m) => {
      if (!appsOfOrg.has(m.app) || (!includeDeleted && m.state === "destroyed")) return false;
      if (region !== null && m.region !== region) return false;
      if (states.length && !states.includes(m.state)) return false;
      return afterMs === null || m.updated > afterMs;
    });
    const paging = new URLSearchParams(q);
    if (!paging.has("limit")) paging.set("limit", String(ORG_PAGE_MAX));
    const page = cursorPage(items, paging, ORG_PAGE_MAX, (m) => ({ t: m.created, id: m.id }));
    if (isReply(page)) return page;
    const last = page.items.at(-1);
    const summary = q.get("summary") === "true";
    return {
      status: 200,
      body: {
        machines: page.items.map((m) => renderOrgMachine(m, summary)),
        ...(page.next ? { next_cursor: page.next } : {}),
        ...(last ? { last_machine_id: last.id, last_updated_at: isoSeconds(last.updated) } : {}),
      },
    };
  };

  return [
    { method: "GET", pattern: "/v1/platform/regions", name: "platform.regions", handler: regions },
    { method: "GET", pattern: "/v1/orgs/:org/machines", name: "orgs.machines", handler: orgMachines },
  ];
}
