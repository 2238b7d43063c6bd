import type { HttpClient, ParsedApiError } from "../../lib/http.js";

/** Koyeb wire types: only the fields automna reads. */
export interface KEnv { key: string; value?: string; secret?: string }
export interface KDefinition {
  name?: string;
  type: string;
  docker: { image: string; command?: string; args?: string[] };
  regions: string[];
  instance_types: { type: string }[];
  scalings: { min: number; max: number }[];
  env: KEnv[];
  volumes?: { id: string; path: string }[];
  health_checks?: unknown[];
  [key: string]: unknown;
}
export interface KApp { id: string; name: string; created_at?: string }
export interface KService { id: string; app_id: string; name: string; status: string; latest_deployment_id?: string; active_deployment_id?: string; created_at?: string }
export interface KDeployment { id: string; service_id: string; status: string; definition?: KDefinition; created_at?: string }
export interface KInstance { id: string; service_id: string; status: string; region: string; type?: string }
export interface KSecret { id: string; name: string }
export interface KVolume { id: string; name: string; region: string; max_size: number; service_id?: string }
export interface KCatalogInstance { id: string; vcpu_shares?: number; memory?: string; disk?: string; price_hourly?: string; price_monthly?: string; regions?: string[]; volumes_enabled?: boolean; type?: string }
export interface KRegion { id: string; name: string; status?: string; volumes_enabled?: boolean }
export interface KLogEntry { msg: string; created_at: string; labels?: Record<string, string> }

/** `{status, code, message, fields?[{field, description}]}`. */
export function parseKoyebError(_status: number, body: unknown): ParsedApiError {
  const b = (body ?? {}) as { code?: string; message?: string; fields?: { field?: string; description?: string }[] };
  const fields = (b.fields ?? []).filter((f) => f.field).map((f) => ({ field: f.field!, messages: [f.description ?? "is invalid"] }));
  const detail = fields.length ? `: ${fields.map((f) => `${f.field} ${f.messages[0]}`).join("; ")}` : "";
  return { message: `${b.message ?? JSON.stringify(body).slice(0, 200)}${detail}`, code: b.code, fields: fields.length ? fields : undefined };
}

const enc = encodeURIComponent;
/** Koyeb lists page by `limit` (at most 100) and `offset`. */
const PAGE = 100;

/** Typed calls over the Koyeb API (`/v1`). */
export class KoyebClient {
  readonly http: HttpClient;
  constructor(http: HttpClient) {
    this.http = http;
  }

  /** Every item of a list, page by page. */
  async all<T>(path: string, key: string, query: Record<string, string | undefined> = {}): Promise<T[]> {
    const out: T[] = [];
    for (let offset = 0; ; offset += PAGE) {
      const res = await this.http.get<Record<string, unknown>>(path, { query: { ...query, limit: String(PAGE), offset: String(offset) } });
      const items = (res.body[key] ?? []) as T[];
      out.push(...items);
      const count = Number(res.body.count ?? 0);
      if (items.length < PAGE || out.length >= count) return out;
    }
  }

  async one<T>(path: string, key: string): Promise<T | undefined> {
    const res = await this.http.get<Record<string, unknown>>(path, { allow: [404] });
    return res.status === 404 ? undefined : (res.body[key] as T);
  }

  async appByName(name: string): Promise<KApp | undefined> {
    return (await this.all<KApp>("/v1/apps", "apps", { name })).find((a) => a.name === name);
  }
  createApp(name: string): Promise<KApp> {
    return this.http.post<{ app: KApp }>("/v1/apps", { name }).then((r) => r.body.app);
  }
  services(appId: string): Promise<KService[]> {
    return this.all<KService>("/v1/services", "services", { app_id: appId });
  }
  service(id: string): Promise<KService | undefined> {
    return this.one<KService>(`/v1/services/${enc(id)}`, "service");
  }
  createService(appId: string, name: string, definition: KDefinition): Promise<KService> {
    return this.http.post<{ service: KService }>("/v1/services", { app_id: appId, name, definition }, { sensitive: true }).then((r) => r.body.service);
  }
  updateService(id: string, definition: KDefinition): Promise<KService> {
    return this.http.request<{ service: KService }>("PATCH", `/v1/services/${enc(id)}`, { body: { definition }, sensitive: true }).then((r) => r.body.service);
  }
  deployment(id: string): Promise<KDeployment | undefined> {
    return this.one<KDeployment>(`/v1/deployments/${enc(id)}`, "deployment");
  }
  instances(serviceId: string): Promise<KInstance[]> {
    return this.all<KInstance>("/v1/instances", "instances", { service_id: serviceId });
  }
  async serviceAction(id: string, verb: "pause" | "resume"): Promise<void> {
    await this.http.post(`/v1/services/${enc(id)}/${verb}`, {});
  }
  /** Deletes; a resource already gone is not an error. Returns whether it existed. */
  async remove(path: string): Promise<boolean> {
    return (await this.http.delete(path, { allow: [404] })).status !== 404;
  }
  volumeByName(name: string): Promise<KVolume | undefined> {
    return this.all<KVolume>("/v1/volumes", "volumes", { name }).then((v) => v.find((x) => x.name === name));
  }
  createVolume(name: string, region: string, maxSize: number): Promise<KVolume> {
    return this.http.post<{ volume: KVolume }>("/v1/volumes", { name, region, max_size: maxSize, volume_type: "PERSISTENT_VOLUME_BACKING_STORE_LOCAL_BLK" }).then((r) => r.body.volume);
  }
  secrets(): Promise<KSecret[]> {
    return this.all<KSecret>("/v1/secrets", "secrets");
  }
  createSecret(name: string, value: string): Promise<KSecret> {
    return this.http.post<{ secret: KSecret }>("/v1/secrets", { name, type: "SIMPLE", value }, { sensitive: true }).then((r) => r.body.secret);
  }
  async updateSecret(id: string, value: string): Promise<void> {
    await this.http.request("PATCH", `/v1/secrets/${enc(id)}`, { body: { value }, sensitive: true });
  }
  async reveal(id: string): Promise<string> {
    return (await this.http.post<{ value: unknown }>(`/v1/secrets/${enc(id)}/reveal`, {}, { sensitive: true })).body.value as string;
  }
  regions(): Promise<KRegion[]> {
    return this.all<KRegion>("/v1/catalog/regions", "regions");
  }
  catalogInstances(): Promise<KCatalogInstance[]> {
    return this.all<KCatalogInstance>("/v1/catalog/instances", "instances");
  }
  async organizationId(): Promise<string> {
    return (await this.http.get<{ organization: { id: string } }>("/v1/account/organization")).body.organization.id;
  }
  async logs(serviceId: string, start: string | undefined, limit: number): Promise<{ data: KLogEntry[]; hasMore: boolean }> {
    const res = await this.http.get<{ data?: KLogEntry[]; pagination?: { has_more?: boolean } }>("/v1/streams/logs/query", {
      query: { type: "runtime", service_id: serviceId, start, order: "asc", limit: String(limit) },
    });
    return { data: res.body.data ?? [], hasMore: res.body.pagination?.has_more === true };
  }
}
