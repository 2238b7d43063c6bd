import type { HttpClient, ParsedApiError, Query } from "../../lib/http.js";
import { allPages } from "../paging.js";

/** DigitalOcean wire types: only the fields automna reads. */
export interface DDroplet {
  id: number;
  name: string;
  status: "new" | "active" | "off" | "archive";
  created_at: string;
  size_slug?: string;
  region?: { slug: string };
  image?: { slug?: string | null; name?: string } | null;
  tags?: string[];
  networks?: { v4?: { ip_address: string; type: string }[]; v6?: { ip_address: string; type: string }[] };
}
export interface DAction {
  id: number;
  status: "in-progress" | "completed" | "errored";
  type: string;
}
export interface DSize {
  slug: string;
  memory: number;
  vcpus: number;
  disk: number;
  price_monthly: number;
  price_hourly: number;
  regions: string[];
  available: boolean;
}
export interface DRegion { slug: string; name: string; available: boolean }
export interface DSshKey { id: number; fingerprint: string; name: string }

/** `{id, message, request_id}`. */
export function parseDigitalOceanError(_status: number, body: unknown): ParsedApiError {
  const b = body as { id?: string; message?: string; request_id?: string };
  const message = b.message ?? JSON.stringify(body).slice(0, 200);
  // DigitalOcean names the offending field only in its message; keep it findable as a field.
  const field = /\b(size|region|image|name|ssh_keys|tags|user_data)\b/i.exec(message)?.[1]?.toLowerCase();
  return { message, code: b.id, requestId: b.request_id, fields: field && b.id === "unprocessable_entity" ? [{ field, messages: [message] }] : undefined };
}

/** The `page` number of a `links.pages` URL. */
function pageOf(url: string | undefined): number | null {
  if (!url) return null;
  const n = Number(new URL(url, "http://x").searchParams.get("page"));
  return Number.isInteger(n) && n > 0 ? n : null;
}

export class DigitalOceanClient {
  readonly http: HttpClient;
  constructor(http: HttpClient) {
    this.http = http;
  }

  /** Every page (`page`/`per_page` up to 200, `links.pages` present only when useful), each item mapped as its page arrives. */
  listAll<T, U = T>(path: string, key: string, query: Query = {}, map: (item: T) => U = (item) => item as unknown as U): Promise<U[]> {
    return allPages(async (page) => {
      const res = await this.http.get<Record<string, unknown>>(path, { query: { ...query, page, per_page: 200 } });
      const pages = (res.body.links as { pages?: { next?: string; last?: string } } | undefined)?.pages;
      return { items: ((res.body[key] as T[] | undefined) ?? []).map(map), next: pageOf(pages?.next), last: pageOf(pages?.last) };
    });
  }

  droplets(tag: string): Promise<DDroplet[]> {
    return this.listAll<DDroplet>("/v2/droplets", "droplets", { tag_name: tag });
  }

  async droplet(id: string): Promise<DDroplet | undefined> {
    const res = await this.http.get<{ droplet: DDroplet }>(`/v2/droplets/${encodeURIComponent(id)}`, { allow: [404] });
    return res.status === 404 ? undefined : res.body.droplet;
  }

  /** `sensitive`: the user-data holds a secret (a private host key), so the body is never logged. */
  async createDroplet(body: Record<string, unknown>, options: { sensitive?: boolean } = {}): Promise<{ droplet: DDroplet; actionId: number | undefined }> {
    const res = await this.http.post<{ droplet: DDroplet; links?: { actions?: { id: number; rel: string }[] } }>("/v2/droplets", body, { sensitive: options.sensitive });
    const action = res.body.links?.actions?.find((a) => a.rel === "create") ?? res.body.links?.actions?.[0];
    return { droplet: res.body.droplet, actionId: action?.id };
  }

  /** DELETE; false when the droplet was already gone. */
  async deleteDroplet(id: string): Promise<boolean> {
    const res = await this.http.delete(`/v2/droplets/${encodeURIComponent(id)}`, { allow: [404] });
    return res.status !== 404;
  }

  async dropletAction(id: string, type: "power_on" | "power_off" | "shutdown"): Promise<DAction> {
    const res = await this.http.post<{ action: DAction }>(`/v2/droplets/${encodeURIComponent(id)}/actions`, { type });
    return res.body.action;
  }

  async action(id: number): Promise<DAction> {
    return (await this.http.get<{ action: DAction }>(`/v2/actions/${id}`)).body.action;
  }

  sizes(): Promise<DSize[]> {
    return this.listAll<DSize>("/v2/sizes", "sizes");
  }

  regions(): Promise<DRegion[]> {
    return this.listAll<DRegion>("/v2/regions", "regions");
  }

  async sshKey(fingerprint: string): Promise<DSshKey | undefined> {
    const res = await this.http.get<{ ssh_key: DSshKey }>(`/v2/account/keys/${encodeURIComponent(fingerprint)}`, { allow: [404] });
    return res.status === 404 ? undefined : res.body.ssh_key;
  }

  async createSshKey(name: string, publicKey: string): Promise<DSshKey> {
    return (await this.http.post<{ ssh_key: DSshKey }>("/v2/account/keys", { name, public_key: publicKey })).body.ssh_key;
  }
}
