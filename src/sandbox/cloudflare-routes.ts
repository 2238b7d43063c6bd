import { filterRecords, type ResultInfo } from "./cloudflare-query.js";
import { CfApiError, buildRecord, checkConflicts, validateRecord, type CfRecord, type CfZone } from "./cloudflare-records.js";
import type { CloudflareWorld } from "./cloudflare-state.js";

/**
 * The Cloudflare stand-in's operations, as one table (it drives the dispatch and the sandbox's
 * documentation of what it implements): zones read-only, DNS records in full, and the token check
 * clients call first. Paths are below `/client/v4`, parameters named as in Cloudflare's spec.
 */

export interface CfToken {
  token: string;
  /** Zone names this token may use; all zones when omitted. */
  zones?: string[];
}

export interface CfCall {
  params: Record<string, string>;
  query: URLSearchParams;
  body: unknown;
  token: CfToken;
}

export interface CfResult {
  result: unknown;
  info?: ResultInfo;
}

export interface CfRoute {
  method: string;
  pattern: string;
  name: string;
  handler: (call: CfCall) => CfResult;
}

const ID_RE = /^[0-9a-f]{32}$/;

export function cloudflareRoutes(world: CloudflareWorld, now: () => number): CfRoute[] {
  const zoneOf = (call: CfCall): CfZone => {
    const zoneId = call.params.zone_id!;
    const zone = ID_RE.test(zoneId) ? world.zone(zoneId) : undefined;
    if (!zone) throw new CfApiError(400, 7003, `Could not route to /zones/${zoneId}, perhaps your object identifier is invalid?`);
    if (call.token.zones && !call.token.zones.includes(zone.name)) throw new CfApiError(403, 10000, "Authentication error");
    return zone;
  };
  const recordOf = (call: CfCall): { zone: CfZone; records: CfRecord[]; index: number } => {
    const zone = zoneOf(call);
    const records = world.records.get(zone.id)!;
    const index = records.findIndex((r) => r.id === call.params.dns_record_id);
    if (index === -1) throw new CfApiError(404, 81044, "Record does not exist.");
    return { zone, records, index };
  };
  const stamp = (): string => new Date(now()).toISOString();
  const write = (method: "PATCH" | "PUT") => (call: CfCall): CfResult => {
    const { zone, records, index } = recordOf(call);
    const existing = records[index]!;
    const body = call.body;
    if (method === "PUT" && (typeof body !== "object" || body === null || !("type" in body) || !("name" in body) || !("content" in body))) {
      throw new CfApiError(400, 1004, "DNS Validation Error", [{ code: 9008, message: "PUT replaces the record: type, name and content are required." }]);
    }
    const base = method === "PATCH" ? existing : { ...existing, comment: undefined, tags: [], ttl: 1, proxied: false } as CfRecord;
    const fields = validateRecord(body, zone, world.limits.get(zone.id)!, base);
    checkConflicts(fields, records, existing.id);
    const record = buildRecord(zone, fields, stamp(), existing);
    records[index] = record;
    world.save();
    return { result: record };
  };
  return [
    { method: "GET", pattern: "/user/tokens/verify", name: "tokens.verify", handler: (call) => ({
      result: { id: world.tokenId(call.token.token), status: "active" },
    }) },
    { method: "GET", pattern: "/zones", name: "zones.list", handler: (call) => listZones(world, call) },
    { method: "GET", pattern: "/zones/:zone_id", name: "zones.get", handler: (call) => ({ result: world.renderZone(zoneOf(call)) }) },
    { method: "GET", pattern: "/zones/:zone_id/dns_records", name: "dns_records.list", handler: (call) => {
      const zone = zoneOf(call);
      return filterRecords(world.records.get(zone.id)!, call.query);
    } },
    { method: "POST", pattern: "/zones/:zone_id/dns_records", name: "dns_records.create", handler: (call) => {
      const zone = zoneOf(call);
      const records = world.records.get(zone.id)!;
      const limits = world.limits.get(zone.id)!;
      const fields = validateRecord(call.body, zone, limits);
      checkConflicts(fields, records);
      if (records.length >= limits.recordQuota) throw new CfApiError(400, 81045, "Record quota exceeded.");
      const record = buildRecord(zone, fields, stamp());
      records.push(record);
      world.save();
      return { result: record };
    } },
    { method: "GET", pattern: "/zones/:zone_id/dns_records/:dns_record_id", name: "dns_records.get", handler: (call) => {
      const { records, index } = recordOf(call);
      return { result: records[index] };
    } },
    { method: "PATCH", pattern: "/zones/:zone_id/dns_records/:dns_record_id", name: "dns_records.edit", handler: write("PATCH") },
    { method: "PUT", pattern: "/zones/:zone_id/dns_records/:dns_record_id", name: "dns_records.update", handler: write("PUT") },
    { method: "DELETE", pattern: "/zones/:zone_id/dns_records/:dns_record_id", name: "dns_records.delete", handler: (call) => {
      const { records, index } = recordOf(call);
      const [gone] = records.splice(index, 1);
      world.save();
      return { result: { id: gone!.id } };
    } },
  ];
}

function listZones(world: CloudflareWorld, call: CfCall): CfResult {
  const params = call.query;
  const page = Number(params.get("page") ?? 1);
  const perPage = Number(params.get("per_page") ?? 20);
  if (!Number.isInteger(page) || page < 1) throw new CfApiError(400, 1001, "Invalid value for page");
  if (!Number.isInteger(perPage) || perPage < 5 || perPage > 50) throw new CfApiError(400, 1001, "Invalid value for per_page: must be from 5 to 50");
  let zones = world.zones.filter((z) => !call.token.zones || call.token.zones.includes(z.name));
  const name = params.get("name");
  if (name) {
    const m = /^(contains|starts_with|ends_with):(.*)$/.exec(name);
    const v = (m ? m[2]! : name).toLowerCase();
    zones = zones.filter((z) => (!m ? z.name === v : m[1] === "contains" ? z.name.includes(v) : m[1] === "starts_with" ? z.name.startsWith(v) : z.name.endsWith(v)));
  }
  const status = params.get("status");
  if (status && status !== "active") zones = [];
  const slice = zones.slice((page - 1) * perPage, page * perPage);
  return {
    result: slice.map((z) => world.renderZone(z)),
    info: { page, per_page: perPage, count: slice.length, total_count: zones.length, total_pages: Math.max(1, Math.ceil(zones.length / perPage)) },
  };
}
