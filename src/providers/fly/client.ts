import type { HttpClient, ParsedApiError, Query } from "../../lib/http.js";

/** Fly Machines wire types: only the fields automna reads. */
export interface FGuest { cpu_kind: string; cpus: number; memory_mb: number }
export interface FSecret {
  name: string;
  digest?: string;
  value?: string;
}

export interface FMachine {
  id: string;
  name: string;
  state: string;
  region: string;
  private_ip?: string;
  created_at?: string;
  version?: string;
  instance_id?: string;
  config?: {
    image?: string;
    guest?: FGuest;
    metadata?: Record<string, string>;
    mounts?: { volume?: string; path?: string }[];
    init?: { exec?: string[]; [key: string]: unknown };
    /** The rest of the config, kept as read so an update sends it back unchanged. */
    [key: string]: unknown;
  };
}
export interface FApp { id?: string; name: string; status?: string; machine_count?: number; organization?: { slug?: string } }
/** `OrgMachine`: a machine in an org-wide list, with its app's name and a config overview. */
export interface FOrgMachine extends Omit<FMachine, "config"> {
  app_name: string;
  config?: { image?: string; guest?: FGuest; metadata?: Record<string, string> };
}
export interface FVolume { id: string; name: string; region: string; size_gb: number; state?: string; attached_machine_id?: string | null }
export interface FRegion { code: string; name: string; deprecated?: boolean; requires_paid_plan?: boolean }
export interface FExecResponse { exit_code?: number; exit_signal?: number; stdout?: string; stderr?: string }
export interface FLogLine { id?: string; attributes?: { timestamp?: string; message?: string; level?: string; instance?: string; region?: string } }

/** `{error, status}`: status is `insufficient_capacity`, `name_taken`... */
export function parseFlyError(_status: number, body: unknown): ParsedApiError {
  const b = body as { error?: string; status?: string; message?: string };
  const message = b.error ?? b.message ?? JSON.stringify(body).slice(0, 200);
  const field = /\b(guest|memory_mb|cpus|cpu_kind|region|image|size_gb|name)\b/.exec(message)?.[1];
  return { message, code: b.status && b.status !== "unknown" ? b.status : undefined, fields: field ? [{ field, messages: [message] }] : undefined };
}

const enc = encodeURIComponent;

/** The next page's cursor, or undefined at the end (absent, empty, or one already followed). */
function nextCursor(next: string | undefined, seen: Set<string>): string | undefined {
  if (!next || seen.has(next)) return undefined;
  seen.add(next);
  return next;
}

/**
 * Typed calls over the Fly Machines API. Each call names its rate-limit bucket (action + app or
 * machine), since Fly limits each action per machine or app rather than per token.
 */
export class FlyClient {
  readonly http: HttpClient;
  constructor(http: HttpClient) {
    this.http = http;
  }

  /**
   * Machines/volumes lists: `limit` turns on pagination; the next cursor is the `fly-next-cursor`
   * header. The limit is advisory (a page may be short, even empty, with more to come), so only
   * a missing or repeated cursor ends the list.
   */
  async #headerPaged<T>(path: string, query: Query, budgetKey: string): Promise<T[]> {
    const out: T[] = [];
    const seen = new Set<string>();
    let cursor: string | undefined;
    do {
      const res = await this.http.get<T[]>(path, { query: { ...query, limit: 1000, cursor }, budgetKey });
      out.push(...(res.body ?? []));
      cursor = nextCursor(res.headers["fly-next-cursor"], seen);
    } while (cursor);
    return out;
  }

  /** Apps of an org; the cursor is `next_cursor` in the body, absent on the last page. */
  async apps(org: string): Promise<FApp[]> {
    const out: FApp[] = [];
    const seen = new Set<string>();
    let cursor: string | undefined;
    do {
      const res = await this.http.get<{ apps?: FApp[]; next_cursor?: string }>("/v1/apps", { query: { org_slug: org, limit: 1000, cursor }, budgetKey: `list_apps:${org}` });
      out.push(...(res.body.apps ?? []));
      cursor = nextCursor(res.body.next_cursor, seen);
    } while (cursor);
    return out;
  }

  /**
   * Every machine of an org in pages of up to 1000 (`GET /v1/orgs/{org}/machines`, cursor in the
   * body): one paged list instead of one request per app. Its config is an overview (image,
   * guest, metadata; no mounts), and the spec warns it is "a point in time" that may lag.
   */
  async orgMachines(org: string): Promise<FOrgMachine[]> {
    const out: FOrgMachine[] = [];
    const seen = new Set<string>();
    let cursor: string | undefined;
    do {
      const res = await this.http.get<{ machines?: FOrgMachine[]; next_cursor?: string }>(`/v1/orgs/${enc(org)}/machines`, {
        query: { limit: 1000, cursor }, budgetKey: `list_org_machines:${org}`,
      });
      out.push(...(res.body.machines ?? []));
      cursor = nextCursor(res.body.next_cursor, seen);
    } while (cursor);
    return out;
  }

  async app(name: string): Promise<FApp | undefined> {
    const res = await this.http.get<FApp>(`/v1/apps/${enc(name)}`, { allow: [404], budgetKey: `get_app:${name}` });
    return res.status === 404 ? undefined : res.body;
  }

  async createApp(name: string, org: string): Promise<void> {
    await this.http.post("/v1/apps", { name, org_slug: org }, { budgetKey: `create_app:${name}` });
  }

  /** false when already gone. */
  async deleteApp(name: string): Promise<boolean> {
    const res = await this.http.delete(`/v1/apps/${enc(name)}`, { allow: [404], budgetKey: "delete_app" });
    return res.status !== 404;
  }

  machines(app: string, metadata: Record<string, string> = {}): Promise<FMachine[]> {
    const query: Query = {};
    for (const [k, v] of Object.entries(metadata)) query[`metadata.${k}`] = v;
    return this.#headerPaged<FMachine>(`/v1/apps/${enc(app)}/machines`, query, `list_machines:${app}`);
  }

  async machine(app: string, id: string): Promise<FMachine | undefined> {
    const res = await this.http.get<FMachine>(`/v1/apps/${enc(app)}/machines/${enc(id)}`, { allow: [404], budgetKey: `get_machine:${id}` });
    return res.status === 404 ? undefined : res.body;
  }

  async createMachine(app: string, body: Record<string, unknown>): Promise<FMachine> {
    return (await this.http.post<FMachine>(`/v1/apps/${enc(app)}/machines`, body, { budgetKey: `create_machine:${app}` })).body;
  }

  /** Replaces the machine's config (Fly restarts it with the new one). */
  async updateMachine(app: string, id: string, body: Record<string, unknown>): Promise<FMachine> {
    return (await this.http.post<FMachine>(`/v1/apps/${enc(app)}/machines/${enc(id)}`, body, { budgetKey: `update_machine:${id}` })).body;
  }

  /**
   * Sets metadata keys, leaving the others (`PATCH .../metadata`): unlike an update of the config,
   * the machine is not restarted.
   */
  async setMetadata(app: string, id: string, metadata: Record<string, string>): Promise<void> {
    await this.http.request("PATCH", `/v1/apps/${enc(app)}/machines/${enc(id)}/metadata`, { body: { metadata }, budgetKey: `update_metadata:${id}` });
  }

  /** false when already gone. */
  async deleteMachine(app: string, id: string): Promise<boolean> {
    const res = await this.http.delete(`/v1/apps/${enc(app)}/machines/${enc(id)}`, { query: { force: true }, allow: [404], budgetKey: `delete_machine:${id}` });
    return res.status !== 404;
  }

  async machineAction(app: string, id: string, action: "start" | "stop"): Promise<void> {
    await this.http.post(`/v1/apps/${enc(app)}/machines/${enc(id)}/${action}`, action === "stop" ? {} : undefined, { budgetKey: `${action}_machine:${id}` });
  }

  /**
   * One `/wait` call: blocks server-side up to `timeoutS` (at most 60). Returns "timeout" on 408,
   * "gone" on 404, else the state reached.
   */
  async wait(app: string, id: string, state: string, timeoutS: number, version?: string): Promise<"timeout" | "gone" | string> {
    const res = await this.http.get<{ ok?: boolean; state?: string }>(`/v1/apps/${enc(app)}/machines/${enc(id)}/wait`, {
      query: { state, timeout: timeoutS, version }, allow: [404, 408], timeoutMs: (timeoutS + 15) * 1000, budgetKey: `wait_machine:${id}`,
    });
    if (res.status === 408) return "timeout";
    if (res.status === 404) return "gone";
    return res.body.state ?? state;
  }

  volumes(app: string): Promise<FVolume[]> {
    return this.#headerPaged<FVolume>(`/v1/apps/${enc(app)}/volumes`, {}, `list_volumes:${app}`);
  }

  async createVolume(app: string, body: Record<string, unknown>): Promise<FVolume> {
    return (await this.http.post<FVolume>(`/v1/apps/${enc(app)}/volumes`, body, { budgetKey: `create_volume:${app}` })).body;
  }

  /** false when already gone. */
  async deleteVolume(app: string, id: string): Promise<boolean> {
    const res = await this.http.delete(`/v1/apps/${enc(app)}/volumes/${enc(id)}`, { allow: [404], budgetKey: `delete_volume:${id}` });
    return res.status !== 404;
  }

  /**
   * The app's secrets; with `show`, their values too (`show_secrets=true`: only a migration asks,
   * to carry them to the user's new machine). The response body is never logged.
   */
  async secrets(app: string, show: boolean): Promise<FSecret[]> {
    const res = await this.http.get<{ secrets?: FSecret[] }>(`/v1/apps/${enc(app)}/secrets`, { query: show ? { show_secrets: "true" } : {}, budgetKey: `list_secrets:${app}` });
    return res.body.secrets ?? [];
  }

  async deleteSecret(app: string, name: string): Promise<void> {
    await this.http.delete(`/v1/apps/${enc(app)}/secrets/${enc(name)}`, { allow: [404], budgetKey: `set_secrets:${app}` });
  }

  /** Sets app secrets; machines created afterwards get them as environment variables. */
  async setSecrets(app: string, values: Record<string, string>): Promise<void> {
    await this.http.post(`/v1/apps/${enc(app)}/secrets`, { values }, { budgetKey: `set_secrets:${app}`, sensitive: true });
  }

  /**
   * Runs argv in the machine (`POST .../exec`). Never resent: a command may have run even when
   * the answer was lost. `timeoutS` bounds the command; the request waits a little longer.
   */
  async exec(app: string, id: string, body: { command: string[]; stdin?: string; timeout: number }): Promise<FExecResponse> {
    const res = await this.http.post<FExecResponse>(`/v1/apps/${enc(app)}/machines/${enc(id)}/exec`, body, {
      budgetKey: `exec_machine:${id}`, timeoutMs: (body.timeout + 15) * 1000, sensitive: body.stdin !== undefined,
    });
    return res.body ?? {};
  }

  async regions(): Promise<FRegion[]> {
    return (await this.http.get<{ regions?: FRegion[] }>("/v1/platform/regions", { budgetKey: "regions" })).body.regions ?? [];
  }
}
