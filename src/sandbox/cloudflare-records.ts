import { randomBytes } from "node:crypto";
import { isIPv4, isIPv6 } from "node:net";

/**
 * The Cloudflare stand-in's data model: zones, DNS records and their validation, following the
 * API schemas (32-hex ids, `proxiable`, `created_on`/`modified_on`, ttl 1 = automatic else
 * 60..86400, A/AAAA never beside a CNAME of the same name, tags `name:value` with a per-plan quota).
 * Error codes are the ones Cloudflare returns where they are publicly known (81053, 81054, 81058,
 * 81044, 81045, 9300 under 1004, 9005, 9021); the rest are labelled as the sandbox's own.
 */

export type ZonePlan = "free" | "pro" | "business" | "enterprise";

export interface CfZone {
  id: string;
  name: string;
  plan: ZonePlan;
  created_on: string;
  modified_on: string;
}

export interface CfRecord {
  id: string;
  zone_id: string;
  zone_name: string;
  name: string;
  type: string;
  content: string;
  proxiable: boolean;
  proxied: boolean;
  ttl: number;
  comment?: string;
  tags: string[];
  meta: { auto_added: boolean; source: string };
  settings: Record<string, never>;
  created_on: string;
  modified_on: string;
}

export interface CfMessage {
  code: number;
  message: string;
  error_chain?: CfMessage[];
}

/** A failed call: HTTP status and the envelope's `errors`. */
export class CfApiError extends Error {
  readonly status: number;
  readonly errors: CfMessage[];
  constructor(status: number, code: number, message: string, chain?: CfMessage[]) {
    super(message);
    this.status = status;
    this.errors = [{ code, message, ...(chain ? { error_chain: chain } : {}) }];
  }
}

export function cfId(): string {
  return randomBytes(16).toString("hex");
}

export const SUPPORTED_TYPES = ["A", "AAAA", "CNAME", "TXT"] as const;

export interface PlanLimits {
  tagQuota: number;
  commentMax: number;
  recordQuota: number;
}

/** Free zones get no record tags and 100-character comments (Cloudflare's published plan limits). */
export function planLimits(plan: ZonePlan, overrides: Partial<PlanLimits> = {}): PlanLimits {
  const base = plan === "free" ? { tagQuota: 0, commentMax: 100, recordQuota: 200 } : { tagQuota: 10, commentMax: 500, recordQuota: 3500 };
  return { ...base, ...overrides };
}

const LABEL_RE = /^(\*|[a-z0-9_]([a-z0-9_-]{0,61}[a-z0-9_])?)$/;
const TAG_NAME_RE = /^[A-Za-z0-9_-]+$/;

function validationError(code: number, message: string): CfApiError {
  return new CfApiError(400, 1004, "DNS Validation Error", [{ code, message }]);
}

/** Record names: lower-case, no trailing dot, `@` is the apex, a relative name gets the zone appended. */
export function normaliseName(raw: string, zone: string): string {
  let name = raw.trim().toLowerCase().replace(/\.$/, "");
  if (name === "@" || name === "") return zone;
  if (name !== zone && !name.endsWith(`.${zone}`)) name = `${name}.${zone}`;
  return name;
}

function validHostname(name: string): boolean {
  return name.length <= 253 && name.split(".").every((label) => LABEL_RE.test(label));
}

function privateAddress(type: string, content: string): boolean {
  if (type === "A") {
    const [a, b] = content.split(".").map(Number) as [number, number];
    return a === 10 || a === 127 || a === 0 || (a === 169 && b === 254) || (a === 172 && b >= 16 && b <= 31) || (a === 192 && b === 168) || (a === 100 && b >= 64 && b <= 127);
  }
  const lower = content.toLowerCase();
  return lower === "::1" || lower === "::" || /^f[cd]/.test(lower) || /^fe[89ab]/.test(lower);
}

export interface RecordFields {
  type: string;
  name: string;
  content: string;
  ttl: number;
  proxied: boolean;
  comment: string | undefined;
  tags: string[];
}

/**
 * Validates a create (POST), replace (PUT) or partial update (PATCH, merged onto `existing`)
 * and returns the normalised fields, or throws the error Cloudflare would answer with.
 */
export function validateRecord(body: unknown, zone: CfZone, limits: PlanLimits, existing?: CfRecord): RecordFields {
  if (typeof body !== "object" || body === null || Array.isArray(body)) throw new CfApiError(400, 9207, "Request body is invalid.");
  const b = body as Record<string, unknown>;
  const pick = <T>(key: string, fallback: T): unknown => (key in b ? b[key] : fallback);
  const type = pick("type", existing?.type);
  const name = pick("name", existing?.name);
  const content = pick("content", existing?.content);
  if (typeof type !== "string" || !type) throw validationError(9008, "Invalid or missing record type.");
  if (!(SUPPORTED_TYPES as readonly string[]).includes(type)) throw validationError(9008, `Record type ${type} is not supported by the sandbox (A, AAAA, CNAME, TXT).`);
  if (typeof name !== "string" || !name) throw validationError(9007, "DNS name is required.");
  const fqdn = normaliseName(name, zone.name);
  if (fqdn.length > 255 || !validHostname(fqdn)) throw validationError(9007, "DNS name is invalid.");
  if (typeof content !== "string" || !content) throw new CfApiError(400, 9005, `Content for ${type} record is required.`);
  let value = content.trim();
  if (type === "A" && !isIPv4(value)) throw new CfApiError(400, 9005, "Content for A record must be a valid IPv4 address.");
  if (type === "AAAA") {
    if (!isIPv6(value)) throw new CfApiError(400, 9006, "Content for AAAA record must be a valid IPv6 address.");
    value = value.toLowerCase();
  }
  if (type === "CNAME") {
    value = value.toLowerCase().replace(/\.$/, "");
    if (!validHostname(value) || !value.includes(".")) throw new CfApiError(400, 9007, "Content for CNAME record is invalid.");
    if (value === fqdn) throw new CfApiError(400, 9007, "Content for CNAME record is invalid: it must not match the record's name.");
  }
  if (type === "TXT" && value.length > 4096) throw validationError(9004, "TXT content is too long.");
  const proxiable = (type === "A" || type === "AAAA" || type === "CNAME") && !((type === "A" || type === "AAAA") && privateAddress(type, value));
  const proxied = pick("proxied", existing?.proxied ?? false);
  if (typeof proxied !== "boolean") throw validationError(9003, "proxied must be a boolean.");
  if (proxied && !proxiable) throw new CfApiError(400, 9041, "This record type cannot be proxied.");
  const ttlRaw = pick("ttl", existing?.ttl ?? 1);
  const ttl = ttlRaw === undefined ? 1 : ttlRaw;
  if (typeof ttl !== "number" || !Number.isInteger(ttl) || (ttl !== 1 && (ttl < (zone.plan === "enterprise" ? 30 : 60) || ttl > 86400))) {
    throw new CfApiError(400, 9021, "Invalid TTL. Must be between 60 and 86400 seconds, or 1 for Automatic.");
  }
  const comment = pick("comment", existing?.comment);
  if (comment !== undefined && comment !== null && typeof comment !== "string") throw validationError(9101, "comment must be a string.");
  if (typeof comment === "string" && comment.length > limits.commentMax) {
    throw validationError(9101, `DNS record comment is ${comment.length} characters, exceeding the limit of ${limits.commentMax}.`);
  }
  const tags = pick("tags", existing?.tags ?? []);
  if (!Array.isArray(tags) || tags.some((t) => typeof t !== "string")) throw validationError(9301, "tags must be an array of strings.");
  for (const tag of tags as string[]) {
    const tagName = tag.includes(":") ? tag.slice(0, tag.indexOf(":")) : tag;
    if (!TAG_NAME_RE.test(tagName)) throw validationError(9301, `Tag "${tag}" is invalid: a tag name may hold only letters, numbers, underscores and hyphens.`);
  }
  if (tags.length > limits.tagQuota) throw validationError(9300, `DNS record has ${tags.length} tags, exceeding the quota of ${limits.tagQuota}.`);
  return {
    type,
    name: fqdn,
    content: value,
    // Proxied records always use automatic TTL.
    ttl: proxied ? 1 : ttl,
    proxied,
    comment: typeof comment === "string" && comment !== "" ? comment : undefined,
    tags: [...new Set(tags as string[])],
  };
}

/** The rules for records that share a name, applied to a create or an update of `self`. */
export function checkConflicts(fields: RecordFields, others: readonly CfRecord[], selfId?: string): void {
  const same = others.filter((r) => r.id !== selfId && r.name === fields.name);
  if (same.some((r) => r.type === fields.type && r.content === fields.content)) throw new CfApiError(400, 81058, "An identical record already exists.");
  if (fields.type === "CNAME" && same.some((r) => r.type === "A" || r.type === "AAAA" || r.type === "CNAME")) {
    throw new CfApiError(400, 81053, "An A, AAAA, or CNAME record with that host already exists.");
  }
  if ((fields.type === "A" || fields.type === "AAAA") && same.some((r) => r.type === "CNAME")) {
    throw new CfApiError(400, 81054, "A CNAME record with that host already exists.");
  }
}

export function buildRecord(zone: CfZone, fields: RecordFields, now: string, existing?: CfRecord): CfRecord {
  const record: CfRecord = {
    id: existing?.id ?? cfId(),
    zone_id: zone.id,
    zone_name: zone.name,
    name: fields.name,
    type: fields.type,
    content: fields.content,
    proxiable: (fields.type === "A" || fields.type === "AAAA" || fields.type === "CNAME") && !((fields.type === "A" || fields.type === "AAAA") && privateAddress(fields.type, fields.content)),
    proxied: fields.proxied,
    ttl: fields.ttl,
    tags: fields.tags,
    meta: { auto_added: false, source: "primary" },
    settings: {},
    created_on: existing?.created_on ?? now,
    modified_on: now,
  };
  if (fields.comment !== undefined) record.comment = fields.comment;
  return record;
}
