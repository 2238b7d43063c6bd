import { AutomnaError, UsageError } from "../lib/errors.js";
import { StateHttpClient, type HttpClientOptions, type StateWaitListener } from "./http-client.js";
import type {
  AuditEntry, AuditFilter, Instance, InstanceFilter, InstancePatch, InstanceRole, JournalEntry, LabelChange, Lease, LeaseHolder, LeaseRef,
  NewAuditEntry, NewInstance, NewJournalEntry, NewOperation, NewUsageInterval, Operation, OperationFilter, OperationPatch,
  StateStore, UpdateOptions, UsageFilter, UsageInterval, UserLabels, WriteOptions,
} from "./types.js";
import { encodeLease, encodeVersion, LEASE_HEADER, OPERATIONS_PAGE_MAX } from "./wire.js";

/** Token, CA, connections, tries, outage window (`retryForMs`), timeout, debug and signal. */
export type HttpStoreOptions = HttpClientOptions & {
  /** Operations asked for per request when listing them (the server answers at most OPERATIONS_PAGE_MAX). */
  pageSize?: number;
};

function writeHeaders(options: UpdateOptions): Record<string, string> {
  const headers: Record<string, string> = {};
  if (options.lease) headers[LEASE_HEADER] = encodeLease(options.lease);
  if (options.expectedVersion !== undefined) headers["if-match"] = encodeVersion(options.expectedVersion);
  return headers;
}

const seg = encodeURIComponent;

/**
 * The state store as a client of `automna state serve`: the same interface and the same
 * contract suite as the embedded store, over HTTP. The server records every mutation in the
 * audit log, attributed to this client's token.
 */
export class HttpStore implements StateStore {
  readonly location: string;
  readonly #client: StateHttpClient;
  readonly #pageSize: number;

  private constructor(location: string, client: StateHttpClient, pageSize: number) {
    this.location = location;
    this.#client = client;
    this.#pageSize = pageSize;
  }

  static async open(url: string, options: HttpStoreOptions = {}): Promise<HttpStore> {
    let base: URL;
    try {
      base = new URL(url);
    } catch {
      throw new UsageError(`state URL "${url}" is not a URL`, { hint: "e.g. http://127.0.0.1:7070 or https://state.example.com" });
    }
    if (base.protocol !== "http:" && base.protocol !== "https:") throw new UsageError(`state URL ${url} must be http:// or https://`);
    if (base.username || base.password) {
      throw new UsageError("the state URL must not carry credentials", { hint: "put the token in AUTOMNA_STATE_TOKEN or config state.token" });
    }
    const pageSize = Math.max(1, Math.min(options.pageSize ?? OPERATIONS_PAGE_MAX, OPERATIONS_PAGE_MAX));
    return new HttpStore(base.toString().replace(/\/$/, ""), new StateHttpClient(base, options), pageSize);
  }

  /**
   * Tells `listener` while the server is down and calls wait for it, and when it is back (see
   * StateWaitEvent): the hook for "waiting for the state server" on a progress board, and for
   * renewing a lease once the server answers again. Returns the unsubscribe.
   */
  onWait(listener: StateWaitListener): () => void {
    return this.#client.onWait(listener);
  }

  async #must<T>(value: Promise<T | undefined>): Promise<T> {
    const v = await value;
    if (v === undefined) throw new AutomnaError("the state server sent an empty answer", { code: "bad_response" });
    return v;
  }

  getInstance(user: string, role: InstanceRole = "live"): Promise<Instance | undefined> {
    return this.#client.call<Instance>("GET", `/v1/users/${seg(user)}/instances/${seg(role)}`, { allow404: true });
  }
  getInstanceById(id: string): Promise<Instance | undefined> {
    return this.#client.call<Instance>("GET", `/v1/instances/${seg(id)}`, { allow404: true });
  }
  listInstances(filter: InstanceFilter = {}): Promise<Instance[]> {
    const { users, ...rest } = filter;
    if (users && users.length === 0) return Promise.resolve([]);
    return this.#must(this.#client.call<Instance[]>("GET", "/v1/instances", { query: { ...rest, users: users?.join(",") } }));
  }
  createInstance(input: NewInstance, options: WriteOptions = {}): Promise<Instance> {
    return this.#must(this.#client.call<Instance>("POST", "/v1/instances", { body: input, headers: writeHeaders(options) }));
  }
  updateInstance(id: string, patch: InstancePatch, options: UpdateOptions = {}): Promise<Instance> {
    return this.#must(this.#client.call<Instance>("PATCH", `/v1/instances/${seg(id)}`, { body: patch, headers: writeHeaders(options) }));
  }
  async deleteInstance(id: string, options: UpdateOptions = {}): Promise<void> {
    await this.#client.call("DELETE", `/v1/instances/${seg(id)}`, { headers: writeHeaders(options) });
  }

  listLabels(users?: string[]): Promise<UserLabels[]> {
    if (users && users.length === 0) return Promise.resolve([]);
    return this.#must(this.#client.call<UserLabels[]>("GET", "/v1/labels", { query: { users: users?.join(",") } }));
  }
  updateLabels(user: string, change: LabelChange): Promise<UserLabels> {
    return this.#must(this.#client.call<UserLabels>("PATCH", `/v1/users/${seg(user)}/labels`, { body: change }));
  }

  openUsage(input: NewUsageInterval, options: WriteOptions = {}): Promise<UsageInterval> {
    return this.#must(this.#client.call<UsageInterval>("POST", "/v1/usage", { body: input, headers: writeHeaders(options) }));
  }
  closeUsage(instanceId: string, end: string, options: WriteOptions = {}): Promise<UsageInterval[]> {
    return this.#must(this.#client.call<UsageInterval[]>("POST", "/v1/usage/close", { body: { instanceId, end }, headers: writeHeaders(options) }));
  }
  listUsage(filter: UsageFilter = {}): Promise<UsageInterval[]> {
    return this.#must(this.#client.call<UsageInterval[]>("GET", "/v1/usage", { query: { ...filter } }));
  }

  createOperation(input: NewOperation, options: WriteOptions = {}): Promise<Operation> {
    return this.#must(this.#client.call<Operation>("POST", "/v1/operations", { body: input, headers: writeHeaders(options) }));
  }
  getOperation(id: string): Promise<Operation | undefined> {
    return this.#client.call<Operation>("GET", `/v1/operations/${seg(id)}`, { allow404: true });
  }
  /**
   * Page by page (newest first, each page after the last id of the one before), as many as the
   * filter's limit asks for, or all: the server answers at most OPERATIONS_PAGE_MAX at a time.
   */
  async listOperations(filter: OperationFilter = {}): Promise<Operation[]> {
    const out: Operation[] = [];
    const wanted = filter.limit ?? Number.POSITIVE_INFINITY;
    let before = filter.before;
    while (out.length < wanted) {
      const limit = Math.min(this.#pageSize, wanted - out.length);
      const page = await this.#must(this.#client.call<Operation[]>("GET", "/v1/operations", { query: { ...filter, before, limit } }));
      out.push(...page);
      if (page.length < limit) break;
      before = page[page.length - 1]!.id;
    }
    return out;
  }
  updateOperation(id: string, patch: OperationPatch, options: UpdateOptions = {}): Promise<Operation> {
    return this.#must(this.#client.call<Operation>("PATCH", `/v1/operations/${seg(id)}`, { body: patch, headers: writeHeaders(options) }));
  }
  appendJournal(opId: string, entry: NewJournalEntry, options: WriteOptions = {}): Promise<JournalEntry> {
    return this.#must(this.#client.call<JournalEntry>("POST", `/v1/operations/${seg(opId)}/journal`, { body: entry, headers: writeHeaders(options) }));
  }
  listJournal(opId: string): Promise<JournalEntry[]> {
    return this.#must(this.#client.call<JournalEntry[]>("GET", `/v1/operations/${seg(opId)}/journal`));
  }

  acquireLease(user: string, holder: LeaseHolder, ttlMs: number): Promise<Lease> {
    return this.#must(this.#client.call<Lease>("PUT", `/v1/leases/${seg(user)}`, { body: { holder, ttlMs } }));
  }
  renewLease(lease: LeaseRef, ttlMs: number): Promise<Lease> {
    return this.#must(this.#client.call<Lease>("POST", `/v1/leases/${seg(lease.user)}/renew`, { body: { leaseId: lease.leaseId, ttlMs } }));
  }
  async releaseLease(lease: LeaseRef): Promise<void> {
    await this.#client.call("DELETE", `/v1/leases/${seg(lease.user)}/${seg(lease.leaseId)}`);
  }
  getLease(user: string): Promise<Lease | undefined> {
    return this.#client.call<Lease>("GET", `/v1/leases/${seg(user)}`, { allow404: true });
  }
  listLeases(): Promise<Lease[]> {
    return this.#must(this.#client.call<Lease[]>("GET", "/v1/leases"));
  }
  breakLease(user: string, leaseId: string): Promise<Lease> {
    return this.#must(this.#client.call<Lease>("POST", `/v1/leases/${seg(user)}/break`, { body: { leaseId } }));
  }

  appendAudit(entry: NewAuditEntry): Promise<AuditEntry> {
    return this.#must(this.#client.call<AuditEntry>("POST", "/v1/audit", { body: entry }));
  }
  listAudit(filter: AuditFilter = {}): Promise<AuditEntry[]> {
    return this.#must(this.#client.call<AuditEntry[]>("GET", "/v1/audit", { query: { ...filter } }));
  }

  /** Who the server thinks this client is (token id, operator, scope). */
  whoami(): Promise<{ tokenId: string; operator: string; scope: string }> {
    return this.#must(this.#client.call("GET", "/v1/whoami"));
  }

  close(): Promise<void> {
    return this.#client.close();
  }
}
