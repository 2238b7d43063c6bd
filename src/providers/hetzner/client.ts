import { AutomnaError, type FieldError } from "../../lib/errors.js";
import type { HttpClient, ParsedApiError, Query } from "../../lib/http.js";
import { sleep } from "../../lib/rate-budget.js";
import { pollIntervals } from "../deps.js";
import { allPages } from "../paging.js";

/** Hetzner Cloud wire types: only the fields automna reads. */
export interface HPrice { net: string; gross: string }
export interface HAction {
  id: number;
  command: string;
  status: "running" | "success" | "error";
  progress: number;
  error: { code: string; message: string } | null;
}
export interface HServer {
  id: number;
  name: string;
  status: string;
  created: string;
  labels?: Record<string, string>;
  public_net?: { ipv4?: { ip: string } | null; ipv6?: { ip: string } | null };
  server_type?: { name: string };
  location?: { name: string };
  datacenter?: { location?: { name: string } } | null;
  image: { name: string | null } | null;
}
export interface HServerType {
  id: number;
  name: string;
  cores: number;
  memory: number;
  disk: number;
  deprecated: boolean | null;
  prices: { location: string; price_hourly: HPrice; price_monthly: HPrice }[];
}
export interface HLocation { id: number; name: string; city: string; country: string; description?: string }
export interface HSshKey { id: number; name: string; fingerprint: string }
export interface HPricing {
  currency: string;
  primary_ips?: { type: string; prices: { location: string; price_hourly: HPrice; price_monthly: HPrice }[] }[];
}
interface HPagination { page: number; per_page: number; next_page: number | null; last_page: number | null }

/** `{error:{code,message,details}}`, with `details.fields[{name,messages}]` for invalid input. */
export function parseHetznerError(_status: number, body: unknown): ParsedApiError {
  const err = (body as { error?: { code?: string; message?: string; details?: { fields?: { name?: string; messages?: string[] }[] } | null } }).error;
  if (!err) return { message: JSON.stringify(body).slice(0, 200) };
  const fields: FieldError[] = (err.details?.fields ?? []).map((f) => ({ field: String(f.name ?? "?"), messages: f.messages ?? [] }));
  return { message: err.message ?? "unknown error", code: err.code, fields };
}

/** Thin typed calls over the Hetzner Cloud API. */
export class HetznerClient {
  readonly http: HttpClient;
  constructor(http: HttpClient) {
    this.http = http;
  }

  /** Every page of a list (`page`/`per_page` up to 50, `meta.pagination`), each item mapped as its page arrives. */
  listAll<T, U = T>(path: string, key: string, query: Query = {}, map: (item: T) => U = (item) => item as unknown as U): Promise<U[]> {
    return allPages(async (page) => {
      const res = await this.http.get<Record<string, unknown>>(path, { query: { ...query, page, per_page: 50 } });
      const pagination = (res.body.meta as { pagination?: HPagination } | undefined)?.pagination;
      return { items: ((res.body[key] as T[] | undefined) ?? []).map(map), next: pagination?.next_page ?? null, last: pagination?.last_page ?? null };
    });
  }

  servers(labelSelector: string): Promise<HServer[]> {
    return this.listAll<HServer>("/servers", "servers", { label_selector: labelSelector });
  }

  async server(id: string): Promise<HServer | undefined> {
    const res = await this.http.get<{ server: HServer }>(`/servers/${encodeURIComponent(id)}`, { allow: [404] });
    return res.status === 404 ? undefined : res.body.server;
  }

  async serverByName(name: string): Promise<HServer | undefined> {
    const res = await this.http.get<{ servers: HServer[] }>("/servers", { query: { name } });
    return res.body.servers[0];
  }

  /** `sensitive`: the user-data holds a secret (a private host key), so the body is never logged. */
  createServer(body: Record<string, unknown>, options: { sensitive?: boolean } = {}): Promise<{ body: { server: HServer; action: HAction; next_actions: HAction[] }; requestId: string | undefined }> {
    return this.http.post("/servers", body, { sensitive: options.sensitive });
  }

  /** DELETE; undefined when the server is already gone. */
  async deleteServer(id: string): Promise<HAction | undefined> {
    const res = await this.http.delete<{ action: HAction }>(`/servers/${encodeURIComponent(id)}`, { allow: [404] });
    return res.status === 404 ? undefined : res.body.action;
  }

  async serverAction(id: string, action: "poweron" | "shutdown" | "poweroff"): Promise<HAction> {
    const res = await this.http.post<{ action: HAction }>(`/servers/${encodeURIComponent(id)}/actions/${action}`, undefined);
    return res.body.action;
  }

  serverTypes(): Promise<HServerType[]> {
    return this.listAll<HServerType>("/server_types", "server_types");
  }

  locations(): Promise<HLocation[]> {
    return this.listAll<HLocation>("/locations", "locations");
  }

  async pricing(): Promise<HPricing> {
    return (await this.http.get<{ pricing: HPricing }>("/pricing")).body.pricing;
  }

  sshKeysByFingerprint(fingerprint: string): Promise<HSshKey[]> {
    return this.listAll<HSshKey>("/ssh_keys", "ssh_keys", { fingerprint });
  }

  async createSshKey(name: string, publicKey: string): Promise<HSshKey> {
    const res = await this.http.post<{ ssh_key: HSshKey }>("/ssh_keys", { name, public_key: publicKey, labels: { "automna.managed": "true" } });
    return res.body.ssh_key;
  }

  /** Several actions in one request (`GET /actions?id=1&id=2`; the spec gives it no paging). */
  async actions(ids: number[]): Promise<HAction[]> {
    const res = await this.http.get<{ actions: HAction[] }>("/actions", { query: { id: ids } });
    return res.body.actions;
  }
}

/**
 * Waits for Hetzner actions. Every concurrent provision registers its action ids here, and one
 * loop polls all of them with a single `GET /actions?id=...` per tick, so 50 servers booting at
 * once cost one request per tick instead of fifty: bulk work stays far inside the budget.
 */
export class ActionWatcher {
  readonly #client: HetznerClient;
  readonly #pending = new Map<number, { resolve: (a: HAction) => void; reject: (e: unknown) => void }>();
  readonly #firstPollMs: number;
  readonly #signal: AbortSignal | undefined;
  #running = false;

  constructor(client: HetznerClient, firstPollMs: number, signal?: AbortSignal) {
    this.#client = client;
    this.#firstPollMs = firstPollMs;
    this.#signal = signal;
  }

  /** Resolves when every action has finished; rejects when one ends in error. */
  async wait(actions: HAction[]): Promise<void> {
    for (const a of actions) if (a.status === "error") throw actionError(a);
    const waits = actions.filter((a) => a.status === "running").map((a) => new Promise<HAction>((resolve, reject) => {
      this.#pending.set(a.id, { resolve, reject });
    }));
    if (!this.#running && this.#pending.size > 0) void this.#loop();
    const done = await Promise.all(waits);
    for (const a of done) if (a.status === "error") throw actionError(a);
  }

  async #loop(): Promise<void> {
    this.#running = true;
    const intervals = pollIntervals(this.#firstPollMs);
    try {
      while (this.#pending.size > 0) {
        await sleep(intervals.next().value as number, this.#signal);
        const ids = [...this.#pending.keys()];
        for (let i = 0; i < ids.length; i += 50) {
          const found = await this.#client.actions(ids.slice(i, i + 50));
          for (const action of found) {
            if (action.status === "running") continue;
            const waiter = this.#pending.get(action.id);
            this.#pending.delete(action.id);
            waiter?.resolve(action);
          }
        }
      }
    } catch (error) {
      for (const [id, waiter] of this.#pending) {
        this.#pending.delete(id);
        waiter.reject(error);
      }
    } finally {
      this.#running = false;
    }
  }
}

function actionError(a: HAction): AutomnaError {
  return new AutomnaError(`Hetzner action ${a.command} (${a.id}) failed: ${a.error?.code ?? "error"}: ${a.error?.message ?? "no message"}`, { code: "action_failed" });
}
