/**
 * The state store: which user's agent runs where, what it cost, which operation is in flight,
 * who holds each user's lock, and who did what. The embedded SQLite store, the PostgreSQL store
 * and the HTTP client of `automna state serve` implement this same interface and pass the same
 * contract suite (test/state/contract.ts). Every mutation is recorded in the audit log by the
 * store itself (the CLI's embedded store as its operator, the server as the token's operator);
 * commands append entries only for what is not a store write (a destroy, a backup).
 *
 * Times are ISO-8601 UTC strings with milliseconds. Every mutation that runs under a lease takes
 * `{ lease }` and is rejected (LockedError) when that lease is no longer the live one: fencing.
 */
import type { StateWaitEvent } from "./http-client.js";

export type InstanceStatus =
  | "provisioning"
  | "starting"
  | "running"
  | "stopped"
  | "failed"
  | "deleting"
  | "retired"
  /** Unreachable when a failover replaced it; not destroyed, since its provider may come back (doctor watches it). */
  | "lost"
  | "unknown";

export const INSTANCE_STATUSES: readonly InstanceStatus[] = [
  "provisioning",
  "starting",
  "running",
  "stopped",
  "failed",
  "deleting",
  "retired",
  "lost",
  "unknown",
];

/** A user has one live instance; during a migration a target; after it, retired sources. */
export type InstanceRole = "live" | "target" | "retired";

export interface Instance {
  /** Store-assigned id. */
  id: string;
  user: string;
  role: InstanceRole;
  provider: string;
  region: string;
  size: string;
  image: string;
  /** Provider resource ids, e.g. `{ server: "42" }` or `{ app, machine, volume }`. */
  resources: Record<string, string>;
  /** Reachable addresses: `ipv4`, `ipv6`, `hostname`. */
  addresses: Record<string, string>;
  status: InstanceStatus;
  /** The operation marker that created it (adopted on retry). */
  opId: string | null;
  /** Provider-specific or feature data (pinned host keys, retire deadline, ...). */
  meta: Record<string, unknown>;
  createdAt: string;
  updatedAt: string;
  /** Optimistic-concurrency version, starts at 1 and grows on every update. */
  version: number;
}

export type NewInstance = Omit<Instance, "id" | "createdAt" | "updatedAt" | "version"> & { id?: string; createdAt?: string };

export type InstancePatch = Partial<Pick<Instance, "role" | "region" | "size" | "image" | "resources" | "addresses" | "status" | "opId" | "meta">>;

export interface InstanceFilter {
  user?: string;
  users?: string[];
  provider?: string;
  region?: string;
  status?: InstanceStatus;
  role?: InstanceRole;
}

/**
 * A user's labels (`plan=pro`, `cohort=beta`): key to value, Kubernetes-style. They belong to the
 * user, not to an instance, so they survive a migration; `-l` selectors match on them.
 */
export type Labels = Record<string, string>;

export interface UserLabels {
  user: string;
  labels: Labels;
  updatedAt: string;
}

/** Labels to set (overwriting a key's value) and keys to remove, in one write. */
export interface LabelChange {
  set?: Labels;
  remove?: string[];
}

/** What a usage interval bills for. */
export type UsageKind = "server" | "volume" | "ipv4";

/**
 * A period during which one resource of a user's instance was billed. The unit price is the one
 * in force when the interval began, so a later price change never rewrites history.
 */
export interface UsageInterval {
  id: string;
  user: string;
  instanceId: string | null;
  provider: string;
  size: string;
  region: string;
  kind: UsageKind;
  /** Units billed: 1 for a server, GB for a volume. */
  quantity: number;
  /** Price per unit per hour. */
  hourlyPrice: number;
  /** Monthly cap per unit (Hetzner, DigitalOcean bill hourly up to a monthly price), if any. */
  monthlyPrice: number | null;
  currency: string;
  start: string;
  end: string | null;
}

export type NewUsageInterval = Omit<UsageInterval, "id" | "end"> & { end?: string | null };

export interface UsageFilter {
  user?: string;
  provider?: string;
  /** Intervals that overlap [from, to). */
  from?: string;
  to?: string;
  openOnly?: boolean;
  instanceId?: string;
}

/** `abandoned`: closed by `migrate abandon` without finishing or rolling back (what it left is in its journal). */
export type OperationStatus = "running" | "succeeded" | "failed" | "rolling_back" | "rolled_back" | "abandoned";

export interface Operation {
  id: string;
  kind: string;
  user: string;
  status: OperationStatus;
  /** The step the operation is at (or last completed). */
  step: string | null;
  /** Parameters it was started with (from/to provider, sizes...). */
  params: Record<string, unknown>;
  /** What the steps have learned (resource ids, checksums...). */
  data: Record<string, unknown>;
  error: string | null;
  createdAt: string;
  updatedAt: string;
  version: number;
}

export type NewOperation = Pick<Operation, "kind" | "user"> & Partial<Pick<Operation, "id" | "params" | "data" | "step" | "status">>;

export type OperationPatch = Partial<Pick<Operation, "status" | "step" | "data" | "error" | "params">>;

export interface OperationFilter {
  user?: string;
  kind?: string;
  status?: OperationStatus;
  /** Only operations not yet finished (running or rolling back). */
  active?: boolean;
  /** Only operations whose id sorts before this one: the next page of a newest-first list. */
  before?: string;
  limit?: number;
}

/** One line of an operation's journal: the intent before an external call, the result after. */
export interface JournalEntry {
  opId: string;
  seq: number;
  step: string;
  phase: "intent" | "done" | "failed" | "undone";
  data: Record<string, unknown>;
  at: string;
}

export type NewJournalEntry = Pick<JournalEntry, "step" | "phase"> & { data?: Record<string, unknown> };

export interface LeaseHolder {
  /** Operator name. */
  who: string;
  /** Operation id or a short description of what holds it. */
  operation: string;
  host?: string;
  pid?: number;
}

export interface Lease {
  user: string;
  leaseId: string;
  holder: LeaseHolder;
  acquiredAt: string;
  heartbeatAt: string;
  expiresAt: string;
  /** Grows every time the user's lease changes hands (fencing token). */
  fence: number;
}

/** Proof of holding a user's lease, presented with every write made under it. */
export interface LeaseRef {
  user: string;
  leaseId: string;
}

export interface WriteOptions {
  lease?: LeaseRef;
}

export interface UpdateOptions extends WriteOptions {
  /** Rejects the write with ConflictError unless the stored version is this one. */
  expectedVersion?: number;
}

export interface AuditEntry {
  id: number;
  at: string;
  who: string;
  action: string;
  target: string;
  requestId: string | null;
  details: Record<string, unknown>;
}

export type NewAuditEntry = Pick<AuditEntry, "who" | "action" | "target"> & { requestId?: string | null; details?: Record<string, unknown> };

export interface AuditFilter {
  who?: string;
  action?: string;
  target?: string;
  since?: string;
  until?: string;
  limit?: number;
  /** "desc": newest first (with limit: the latest entries). Default oldest first. */
  order?: "asc" | "desc";
}

/** The store. Every method is atomic. */
export interface StateStore {
  /** Where it lives, for messages (a file path or a URL). */
  readonly location: string;

  // Instances
  getInstance(user: string, role?: InstanceRole): Promise<Instance | undefined>;
  getInstanceById(id: string): Promise<Instance | undefined>;
  listInstances(filter?: InstanceFilter): Promise<Instance[]>;
  /** Creates; ConflictError when the user already has an instance in that live/target role. */
  createInstance(input: NewInstance, options?: WriteOptions): Promise<Instance>;
  /** Updates; ConflictError on a stale expectedVersion; NotFoundError when gone. */
  updateInstance(id: string, patch: InstancePatch, options?: UpdateOptions): Promise<Instance>;
  deleteInstance(id: string, options?: UpdateOptions): Promise<void>;

  // Labels
  /** Every labelled user's labels (of `users` only, when given), in user order. */
  listLabels(users?: string[]): Promise<UserLabels[]>;
  /** Sets and removes a user's labels at once; returns them after (a user left with none has no row). */
  updateLabels(user: string, change: LabelChange): Promise<UserLabels>;

  // Usage
  openUsage(input: NewUsageInterval, options?: WriteOptions): Promise<UsageInterval>;
  /** Closes every open interval of an instance at `end`; returns those closed. */
  closeUsage(instanceId: string, end: string, options?: WriteOptions): Promise<UsageInterval[]>;
  listUsage(filter?: UsageFilter): Promise<UsageInterval[]>;

  // Operations journal
  createOperation(input: NewOperation, options?: WriteOptions): Promise<Operation>;
  getOperation(id: string): Promise<Operation | undefined>;
  listOperations(filter?: OperationFilter): Promise<Operation[]>;
  updateOperation(id: string, patch: OperationPatch, options?: UpdateOptions): Promise<Operation>;
  appendJournal(opId: string, entry: NewJournalEntry, options?: WriteOptions): Promise<JournalEntry>;
  listJournal(opId: string): Promise<JournalEntry[]>;

  // Leases (per-user locks)
  /** Takes the user's lease, or a LockedError naming the live holder. An expired lease is taken over. */
  acquireLease(user: string, holder: LeaseHolder, ttlMs: number): Promise<Lease>;
  /** Extends a held lease; LockedError when it was lost (expired and taken, or broken). */
  renewLease(lease: LeaseRef, ttlMs: number): Promise<Lease>;
  releaseLease(lease: LeaseRef): Promise<void>;
  getLease(user: string): Promise<Lease | undefined>;
  /** Live (unexpired) leases. */
  listLeases(): Promise<Lease[]>;
  /** Removes a lease by id whoever holds it; NotFoundError when no such lease. */
  breakLease(user: string, leaseId: string): Promise<Lease>;

  // Audit log (append-only)
  appendAudit(entry: NewAuditEntry): Promise<AuditEntry>;
  listAudit(filter?: AuditFilter): Promise<AuditEntry[]>;

  /**
   * Only a store behind a server (the HTTP store): tells `listener` while the server is down and
   * calls wait for it, and when it is back (see StateWaitEvent in http-client.ts). Returns the
   * unsubscribe. `state.onWait?.(...)` is a no-op on an embedded store.
   */
  onWait?(listener: (event: StateWaitEvent) => void): () => void;

  close(): Promise<void>;
}
