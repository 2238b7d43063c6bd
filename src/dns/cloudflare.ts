import { isIPv4, isIPv6 } from "node:net";
import type { Config } from "../lib/config.js";
import { AuthError, AutomnaError, ConfigError, ProviderApiError, UsageError } from "../lib/errors.js";
import type { Secret } from "../lib/redact.js";
import { CloudflareApiError, CloudflareHttp, type CloudflareHttpOptions } from "./cloudflare-http.js";
import { USER_TAG } from "./route.js";
import type { CredentialCheck, DnsProvider, DnsRecord, DnsRecordInput, DnsRecordType } from "./types.js";

/**
 * Agent DNS on Cloudflare: one A, AAAA or CNAME record per user name, switched between types by
 * deleting the conflicting record first, always read back and verified. Records are labelled
 * `automna-user:<user>` with a record tag where the zone's plan allows tags (not on Free, which
 * answers 1004/9300) and always in the comment, which every plan has.
 */

export interface CloudflareDnsOptions extends Omit<CloudflareHttpOptions, "token" | "baseUrl"> {
  baseUrl: string;
  token: Secret;
  zoneId: string;
  /** "never" skips record tags (comment only); "auto" tries them and falls back. */
  tags?: "auto" | "never";
}

interface WireRecord {
  id: string;
  name: string;
  type: string;
  content: string;
  ttl: number;
  proxied?: boolean;
  comment?: string | null;
  tags?: string[];
  modified_on?: string;
}

const ROUTING_TYPES = new Set(["A", "AAAA", "CNAME"]);
const TAG_QUOTA_CODE = 9300;
const COMMENT_MAX = 100;
export const DEFAULT_DNS_TTL = 60;

export class CloudflareDns implements DnsProvider {
  readonly id = "cloudflare";
  readonly zoneId: string;
  readonly #http: CloudflareHttp;
  #tagsSupported: boolean | undefined;

  constructor(options: CloudflareDnsOptions) {
    if (!/^[0-9a-f]{32}$/.test(options.zoneId)) {
      throw new ConfigError(`cloudflare.zoneId "${options.zoneId}" is not a Cloudflare zone id (32 hex characters)`, { hint: "copy it from the zone's overview page" });
    }
    this.zoneId = options.zoneId;
    this.#http = new CloudflareHttp(options);
    if (options.tags === "never") this.#tagsSupported = false;
  }

  /** From config: cloudflare.token (CLOUDFLARE_API_TOKEN), cloudflare.zoneId, cloudflare.url. */
  static fromConfig(config: Config, options: Partial<CloudflareDnsOptions> = {}): CloudflareDns {
    const token = config.secret("cloudflare.token");
    const zoneId = config.getString("cloudflare.zoneId");
    const missing = [...(token ? [] : ["cloudflare.token (CLOUDFLARE_API_TOKEN)"]), ...(zoneId ? [] : ["cloudflare.zoneId (AUTOMNA_CLOUDFLARE_ZONE_ID)"])];
    if (!token || !zoneId) throw new ConfigError(`Cloudflare DNS is not configured: missing ${missing.join(", ")}`, { hint: "set them with `automna config set` or the environment variables" });
    return new CloudflareDns({ ...options, baseUrl: config.getString("cloudflare.url") ?? "https://api.cloudflare.com/client/v4", token, zoneId });
  }

  get #records(): string {
    return `/zones/${this.zoneId}/dns_records`;
  }

  async getRecords(name: string): Promise<DnsRecord[]> {
    return (await this.#list({ name: normalise(name) })).map(toRecord);
  }

  async deleteRecords(name: string): Promise<number> {
    const records = await this.#list({ name: normalise(name) });
    for (const record of records) await this.#delete(record.id);
    return records.length;
  }

  /** By comment, which every plan has (tags need a paid one): `comment.startswith=automna-user:`. */
  async listManaged(): Promise<DnsRecord[]> {
    return (await this.#list({ "comment.startswith": `${USER_TAG}:` })).map(toRecord);
  }

  deleteRecord(id: string): Promise<void> {
    return this.#delete(id);
  }

  async checkCredentials(): Promise<CredentialCheck> {
    try {
      await this.#http.call("GET", `/zones/${this.zoneId}`);
      return { ok: true };
    } catch (error) {
      if (error instanceof AuthError || error instanceof ProviderApiError) return { ok: false, reason: error.message };
      throw error;
    }
  }

  async upsertRecord(input: DnsRecordInput): Promise<DnsRecord> {
    const want = validateInput(input);
    const existing = await this.#list({ name: want.name });
    // A CNAME cannot share its name, and a stale A beside a new AAAA would still route to the old
    // host: every other routing record at this name goes first.
    for (const record of existing.filter((r) => ROUTING_TYPES.has(r.type) && r.type !== want.type)) await this.#delete(record.id);
    const same = existing.filter((r) => r.type === want.type);
    const keep = same.find((r) => r.content.toLowerCase() === want.content) ?? same[0];
    for (const extra of same.filter((r) => r !== keep)) await this.#delete(extra.id);
    let written: WireRecord;
    if (!keep) written = await this.#create(want);
    else if (differs(keep, want, this.#tagsSupported !== false)) written = await this.#write("PATCH", keep.id, want);
    else written = keep;
    return this.#readBack(written.id, want);
  }

  async close(): Promise<void> {
    await this.#http.close();
  }

  async #readBack(id: string, want: Wanted): Promise<DnsRecord> {
    const { result } = await this.#http.call<WireRecord>("GET", `${this.#records}/${id}`);
    const others = (await this.#list({ name: want.name })).filter((r) => r.id !== id && ROUTING_TYPES.has(r.type));
    const mismatch = [
      result.name !== want.name && `name ${result.name}`,
      result.type !== want.type && `type ${result.type}`,
      result.content.toLowerCase() !== want.content && `content ${result.content}`,
      result.ttl !== want.ttl && `ttl ${result.ttl}`,
      others.length > 0 && `${others.length} other routing record(s) at the name`,
    ].filter(Boolean);
    if (mismatch.length) {
      throw new AutomnaError(`DNS record ${want.name} did not read back as written (${mismatch.join(", ")})`, { code: "dns_verify_failed", hint: "another writer may be changing this name; run the command again" });
    }
    return toRecord(result);
  }

  async #create(want: Wanted): Promise<WireRecord> {
    const lookup = async (): Promise<WireRecord | undefined> =>
      (await this.#list({ name: want.name, type: want.type })).find((r) => r.content.toLowerCase() === want.content);
    try {
      return (await this.#withTagFallback((body) => this.#http.call<WireRecord>("POST", this.#records, { body, lookup }), want)).result;
    } catch (error) {
      // 81058: the identical record exists (a create that landed before an earlier failure).
      if (error instanceof CloudflareApiError && error.codes.includes(81058)) {
        const found = await lookup();
        if (found) return found;
      }
      throw error;
    }
  }

  async #write(method: "PATCH", id: string, want: Wanted): Promise<WireRecord> {
    return (await this.#withTagFallback((body) => this.#http.call<WireRecord>(method, `${this.#records}/${id}`, { body }), want)).result;
  }

  /** Sends with tags unless the zone refused them before; on the tag-quota error, once more without. */
  async #withTagFallback<T>(send: (body: Record<string, unknown>) => Promise<T>, want: Wanted): Promise<T> {
    const body = { type: want.type, name: want.name, content: want.content, ttl: want.ttl, proxied: false, comment: want.comment };
    if (this.#tagsSupported === false || want.tags.length === 0) return send(this.#tagsSupported === false ? body : { ...body, tags: want.tags });
    try {
      const out = await send({ ...body, tags: want.tags });
      this.#tagsSupported = true;
      return out;
    } catch (error) {
      if (!(error instanceof CloudflareApiError && error.codes.includes(TAG_QUOTA_CODE))) throw error;
      this.#tagsSupported = false;
      return send(body);
    }
  }

  async #delete(id: string): Promise<void> {
    try {
      // The API's description of this call requires a JSON body, though nothing is in it.
      await this.#http.call("DELETE", `${this.#records}/${id}`, { body: {} });
    } catch (error) {
      // 81044: already gone (a retried DELETE whose first try landed).
      if (!(error instanceof CloudflareApiError && error.codes.includes(81044))) throw error;
    }
  }

  async #list(filter: Record<string, string>): Promise<WireRecord[]> {
    const out: WireRecord[] = [];
    for (let page = 1; ; page++) {
      const { result, info } = await this.#http.call<WireRecord[]>("GET", this.#records, { query: { ...filter, page, per_page: 100 } });
      out.push(...result);
      const pages = info?.total_pages ?? Math.ceil((info?.total_count ?? 0) / (info?.per_page ?? 100));
      if (!info || page >= pages || result.length === 0) return out;
    }
  }
}

interface Wanted {
  name: string;
  type: DnsRecordType;
  content: string;
  ttl: number;
  tags: string[];
  comment: string;
}

function normalise(name: string): string {
  return name.trim().toLowerCase().replace(/\.$/, "");
}

function validateInput(input: DnsRecordInput): Wanted {
  const name = normalise(input.name);
  if (!/^([a-z0-9_]([a-z0-9_-]{0,61}[a-z0-9_])?\.)+[a-z0-9-]{2,63}$/.test(name)) throw new UsageError(`"${input.name}" is not a valid DNS name`);
  let content = input.content.trim().toLowerCase().replace(/\.$/, "");
  if (input.type === "A" && !isIPv4(content)) throw new UsageError(`an A record needs an IPv4 address, got "${input.content}"`);
  if (input.type === "AAAA" && !isIPv6(content)) throw new UsageError(`an AAAA record needs an IPv6 address, got "${input.content}"`);
  if (input.type === "CNAME" && (isIPv4(content) || isIPv6(content) || !content.includes(".") || content === name)) {
    throw new UsageError(`a CNAME record needs a hostname other than its own name, got "${input.content}"`);
  }
  if (!["A", "AAAA", "CNAME"].includes(input.type)) throw new UsageError(`record type ${String(input.type)} is not one of A, AAAA, CNAME`);
  content = content.trim();
  const ttl = input.ttl ?? DEFAULT_DNS_TTL;
  if (!Number.isInteger(ttl) || (ttl !== 1 && (ttl < 60 || ttl > 86400))) throw new UsageError(`DNS ttl must be 1 (automatic) or 60..86400 seconds, got ${ttl}`);
  const tags = [...new Set(input.tags ?? [])];
  return { name, type: input.type, content, ttl, tags, comment: tags.join(" ").slice(0, COMMENT_MAX) };
}

function differs(record: WireRecord, want: Wanted, withTags: boolean): boolean {
  const tagsDiffer = withTags && [...(record.tags ?? [])].sort().join(",") !== [...want.tags].sort().join(",");
  return record.content.toLowerCase() !== want.content || record.ttl !== want.ttl || record.proxied === true || (record.comment ?? "") !== want.comment || tagsDiffer;
}

function toRecord(r: WireRecord): DnsRecord {
  return {
    id: r.id,
    name: r.name,
    type: r.type,
    content: r.content,
    ttl: r.ttl,
    proxied: r.proxied ?? false,
    tags: r.tags ?? [],
    comment: r.comment ?? undefined,
    modifiedOn: r.modified_on ?? "",
  };
}
