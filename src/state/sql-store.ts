import { LockedError } from "../lib/errors.js";
import { claimed, findIdempotency, purgeIdempotency, type IdempotencyRecord } from "./idempotency.js";
import {
  AUDIT_COLUMNS, INSTANCE_COLUMNS, JOURNAL_COLUMNS, LABEL_COLUMNS, OPERATION_COLUMNS, TOKEN_COLUMNS, USAGE_COLUMNS,
  toAudit, toInstance, toJournal, toLease, toNumber, toOperation, toToken, toUsage, toUserLabels,
} from "./rows.js";
import type { AuditStamp } from "./rules.js";
import type { Dialect } from "./sql-dialect.js";
import * as leases from "./sql-leases.js";
import { all, first, run, type Steps } from "./sql-steps.js";
import * as writes from "./sql-writes.js";
import { LEASES, liveLease, type Write } from "./sql-writes.js";
import { toTokenInfo, type ServerBackend, type TokenInfo, type TokenRecord } from "./tokens.js";
import type {
  AuditEntry, AuditFilter, Instance, InstanceFilter, InstancePatch, InstanceRole, JournalEntry, LabelChange, Lease, LeaseHolder, LeaseRef,
  NewAuditEntry, NewInstance, NewJournalEntry, NewOperation, NewUsageInterval, Operation, OperationFilter, OperationPatch,
  UpdateOptions, UsageFilter, UsageInterval, UserLabels, WriteOptions,
} from "./types.js";
import { limitClause, Where } from "./where.js";

/**
 * The state store on SQL, for the embedded SQLite store and the PostgreSQL store alike: one set
 * of rules (sql-writes.ts, sql-leases.ts) and one set of reads. A subclass only opens
 * transactions and answers queries (sql-steps.ts); a rule is written once, here or there.
 */
export abstract class SqlStore implements ServerBackend {
  abstract readonly kind: "sqlite" | "postgres";
  readonly location: string;
  /** Set on audited stores: who writes, and on server requests the holder rule and the idempotency claim. */
  protected readonly stamp: AuditStamp | undefined;
  readonly #dialect: Dialect;

  protected constructor(location: string, dialect: Dialect, stamp: AuditStamp | undefined) {
    this.location = location;
    this.#dialect = dialect;
    this.stamp = stamp;
  }

  /** Runs the steps in one transaction (retried whole where the database asks), reading the clock once. */
  protected abstract transaction<T>(make: (now: Date) => Steps<T>): Promise<T>;
  /** Runs read-only steps outside any transaction. */
  protected abstract read<T>(make: (now: Date) => Steps<T>): Promise<T>;
  /** The same database seen as `stamp.who`: every mutation audited (and, on server requests, keyed). */
  abstract audited(stamp: AuditStamp): SqlStore;
  abstract close(): Promise<void>;

  /** A mutation: its idempotency claim (keyed server requests), its rules and its audit row commit together. */
  #write<T>(make: (w: Write) => Steps<T>): Promise<T> {
    return this.transaction((now) => claimed(this.stamp?.idempotency, now, make({ now, stamp: this.stamp })));
  }

  /** Throws when the database cannot answer (the server's health check). */
  async ping(): Promise<void> {
    await this.read(() => first("SELECT 1", [], toNumber));
  }

  // ---- instances

  getInstance(user: string, role: InstanceRole = "live"): Promise<Instance | undefined> {
    return this.read(() => first(`SELECT ${INSTANCE_COLUMNS} FROM instances WHERE {user} = ? AND role = ? ORDER BY created_at DESC LIMIT 1`, [user, role], toInstance));
  }

  getInstanceById(id: string): Promise<Instance | undefined> {
    return this.read(() => first(`SELECT ${INSTANCE_COLUMNS} FROM instances WHERE id = ?`, [id], toInstance));
  }

  listInstances(filter: InstanceFilter = {}): Promise<Instance[]> {
    const where = new Where().add("{user} = ?", filter.user).add("provider = ?", filter.provider).add("region = ?", filter.region)
      .add("status = ?", filter.status).add("role = ?", filter.role);
    if (filter.users) {
      const users = this.#dialect.oneOf("{user}", filter.users);
      where.add(users.clause, users.param);
    }
    return this.read(() => all(`SELECT ${INSTANCE_COLUMNS} FROM instances${where} ORDER BY {user}, created_at`, where.params, toInstance));
  }

  createInstance(input: NewInstance, options: WriteOptions = {}): Promise<Instance> {
    return this.#write((w) => writes.createInstance(w, input, options));
  }

  updateInstance(id: string, patch: InstancePatch, options: UpdateOptions = {}): Promise<Instance> {
    return this.#write((w) => writes.updateInstance(w, id, patch, options));
  }

  deleteInstance(id: string, options: UpdateOptions = {}): Promise<void> {
    return this.#write((w) => writes.deleteInstance(w, id, options));
  }

  // ---- labels

  listLabels(users?: string[]): Promise<UserLabels[]> {
    const where = new Where();
    if (users) {
      const one = this.#dialect.oneOf("{user}", users);
      where.add(one.clause, one.param);
    }
    return this.read(() => all(`SELECT ${LABEL_COLUMNS} FROM labels${where} ORDER BY {user}`, where.params, toUserLabels));
  }

  updateLabels(user: string, change: LabelChange): Promise<UserLabels> {
    return this.#write((w) => writes.updateLabels(w, user, change));
  }

  // ---- usage

  openUsage(input: NewUsageInterval, options: WriteOptions = {}): Promise<UsageInterval> {
    return this.#write((w) => writes.openUsage(w, input, options));
  }

  closeUsage(instanceId: string, end: string, options: WriteOptions = {}): Promise<UsageInterval[]> {
    return this.#write((w) => writes.closeUsage(w, instanceId, end, options));
  }

  listUsage(filter: UsageFilter = {}): Promise<UsageInterval[]> {
    const where = new Where().add("{user} = ?", filter.user).add("provider = ?", filter.provider).add("instance_id = ?", filter.instanceId)
      .add("{start} < ?", filter.to).add("({end} IS NULL OR {end} > ?)", filter.from).raw("{end} IS NULL", filter.openOnly);
    return this.read(() => all(`SELECT ${USAGE_COLUMNS} FROM usage${where} ORDER BY {user}, {start}`, where.params, toUsage));
  }

  // ---- operations and their journals

  createOperation(input: NewOperation, options: WriteOptions = {}): Promise<Operation> {
    return this.#write((w) => writes.createOperation(w, input, options));
  }

  getOperation(id: string): Promise<Operation | undefined> {
    return this.read(() => first(`SELECT ${OPERATION_COLUMNS} FROM operations WHERE id = ?`, [id], toOperation));
  }

  /** Newest first (ids grow with time); `before` pages through them. */
  listOperations(filter: OperationFilter = {}): Promise<Operation[]> {
    const where = new Where().add("{user} = ?", filter.user).add("kind = ?", filter.kind).add("status = ?", filter.status)
      .raw("status IN ('running', 'rolling_back')", filter.active).add("id < ?", filter.before);
    return this.read(() => all(`SELECT ${OPERATION_COLUMNS} FROM operations${where} ORDER BY id DESC${limitClause(filter.limit)}`, where.params, toOperation));
  }

  updateOperation(id: string, patch: OperationPatch, options: UpdateOptions = {}): Promise<Operation> {
    return this.#write((w) => writes.updateOperation(w, id, patch, options));
  }

  appendJournal(opId: string, entry: NewJournalEntry, options: WriteOptions = {}): Promise<JournalEntry> {
    return this.#write((w) => writes.appendJournal(w, opId, entry, options));
  }

  listJournal(opId: string): Promise<JournalEntry[]> {
    return this.read(() => all(`SELECT ${JOURNAL_COLUMNS} FROM journal WHERE op_id = ? ORDER BY seq`, [opId], toJournal));
  }

  // ---- leases

  acquireLease(user: string, holder: LeaseHolder, ttlMs: number): Promise<Lease> {
    return this.#write((w) => leases.acquireLease(w, user, holder, ttlMs));
  }

  renewLease(ref: LeaseRef, ttlMs: number): Promise<Lease> {
    return this.#write((w) => leases.renewLease(w, ref, ttlMs));
  }

  releaseLease(ref: LeaseRef): Promise<void> {
    return this.#write((w) => leases.releaseLease(w, ref));
  }

  breakLease(user: string, leaseId: string): Promise<Lease> {
    return this.#write((w) => leases.breakLease(w, user, leaseId));
  }

  getLease(user: string): Promise<Lease | undefined> {
    return this.read((now) => liveLease(user, now));
  }

  listLeases(): Promise<Lease[]> {
    return this.read((now) => all(`${LEASES} WHERE lease_id IS NOT NULL AND expires_at > ? ORDER BY {user}`, [now.toISOString()], toLease));
  }

  // ---- audit

  appendAudit(entry: NewAuditEntry): Promise<AuditEntry> {
    return this.#write((w) => writes.appendAudit(w, entry));
  }

  listAudit(filter: AuditFilter = {}): Promise<AuditEntry[]> {
    const where = new Where().add("who = ?", filter.who).add("action = ?", filter.action).add("target = ?", filter.target)
      .add("at >= ?", filter.since).add("at < ?", filter.until);
    const order = filter.order === "desc" ? " DESC" : "";
    return this.read(() => all(`SELECT ${AUDIT_COLUMNS} FROM audit${where} ORDER BY id${order}${limitClause(filter.limit)}`, where.params, toAudit));
  }

  // ---- idempotency records (written inside #write on keyed views; see idempotency.ts)

  getIdempotency(operator: string, key: string, notBefore: string): Promise<IdempotencyRecord | undefined> {
    return this.read(() => findIdempotency(operator, key, notBefore));
  }

  purgeIdempotency(before: string): Promise<number> {
    return this.transaction(() => purgeIdempotency(before));
  }

  // ---- tokens (server administration)

  insertToken(record: TokenRecord): Promise<void> {
    return this.#write((w) => writes.insertToken(w, record));
  }

  getToken(id: string): Promise<TokenRecord | undefined> {
    return this.read(() => first(`SELECT ${TOKEN_COLUMNS} FROM tokens WHERE id = ?`, [id], toToken));
  }

  async listTokens(): Promise<TokenInfo[]> {
    return (await this.read(() => all(`SELECT ${TOKEN_COLUMNS} FROM tokens ORDER BY id`, [], toToken))).map(toTokenInfo);
  }

  revokeToken(id: string): Promise<TokenInfo> {
    return this.#write((w) => writes.revokeToken(w, id));
  }

  async touchToken(id: string, at: string, staleBefore: string): Promise<void> {
    // Best effort: a busy database must not fail the request that only wanted to read.
    try {
      await this.transaction(() => run("UPDATE tokens SET last_used_at = ? WHERE id = ? AND (last_used_at IS NULL OR last_used_at < ?)", [at, id, staleBefore]));
    } catch (error) {
      if (!(error instanceof LockedError)) throw error;
    }
  }
}
