import { mkdirSync } from "node:fs";
import { dirname } from "node:path";
import type { DatabaseSync, SQLInputValue, SQLOutputValue, StatementSync } from "node:sqlite";
import { AutomnaError, ConflictError, LockedError, NotFoundError } from "../lib/errors.js";
import { newId } from "../lib/ids.js";
import { findDatabaseHolders } from "./db-holder.js";
import { isCorrupt, prepareDatabaseFile, StateCorruptError, tightenCompanions } from "./sqlite-file.js";
import { idempotencySql, runClaimedSync, toRecord, type IdempotencyRecord } from "./idempotency.js";
import { assertLeaseAllows, assertVersion, lockedBy, type AuditAction, type AuditStamp } from "./rules.js";
import { MIGRATIONS, SCHEMA_VERSION } from "./schema.js";
import {
  isBusy, json, parse, rowToAudit, rowToInstance, rowToLease, rowToOperation, rowToToken, rowToUsage, str, usageFromArray, USAGE_COLUMNS, type Row,
  INSTANCE_COLUMNS, arrayToInstance, type Cell,
} from "./sqlite-rows.js";
import { toTokenInfo, type ServerBackend, type TokenInfo, type TokenRecord } from "./tokens.js";
import { limitClause, Where } from "./where.js";
import type {
  AuditEntry, AuditFilter, Instance, InstanceFilter, InstancePatch, InstanceRole, JournalEntry, Lease, LeaseHolder, LeaseRef,
  NewAuditEntry, NewInstance, NewJournalEntry, NewOperation, NewUsageInterval, Operation, OperationFilter, OperationPatch,
  UpdateOptions, UsageFilter, UsageInterval, WriteOptions,
} from "./types.js";

export interface SqliteStoreOptions {
  /** How long a write waits for another process's transaction, in ms. */
  busyTimeoutMs?: number;
  /** Injected clock (tests move time to expire leases). */
  now?: () => Date;
  /**
   * FULL makes every acknowledged commit survive power loss, not only a crash (the state server
   * uses it); NORMAL (default) is durable across process crashes and faster for the CLI.
   */
  synchronous?: "NORMAL" | "FULL";
}

/** A state database written by a newer automna: refused, never touched. */
export class SchemaTooNewError extends AutomnaError {
  constructor(path: string, found: number) {
    super(`state database ${path} has schema version ${found}, newer than this automna understands (${SCHEMA_VERSION})`, {
      code: "schema_too_new",
      hint: "upgrade automna; the database was left untouched",
    });
  }
}

/**
 * The embedded store on node:sqlite: WAL (readers never wait for a writer), BEGIN IMMEDIATE for
 * every write (no deadlocked upgrades), a busy timeout, and leases/versions checked inside the
 * same transaction as the write they guard.
 */
export class SqliteStore implements ServerBackend {
  readonly kind = "sqlite";
  readonly location: string;
  readonly #db: DatabaseSync;
  readonly #now: () => Date;
  readonly #statements: Map<string, StatementSync>;
  /** Set on audited views: every mutation records who made it. */
  readonly #stamp: AuditStamp | undefined;

  private constructor(location: string, db: DatabaseSync, now: () => Date, statements: Map<string, StatementSync>, stamp?: AuditStamp) {
    this.location = location;
    this.#db = db;
    this.#now = now;
    this.#statements = statements;
    this.#stamp = stamp;
  }

  audited(stamp: AuditStamp): SqliteStore {
    return new SqliteStore(this.location, this.#db, this.#now, this.#statements, stamp);
  }

  static async open(path: string, options: SqliteStoreOptions = {}): Promise<SqliteStore> {
    const { DatabaseSync } = await import("node:sqlite");
    if (path !== ":memory:") {
      mkdirSync(dirname(path), { recursive: true, mode: 0o700 });
      prepareDatabaseFile(path);
    }
    const timeout = options.busyTimeoutMs ?? 5000;
    let db: DatabaseSync;
    try {
      db = new DatabaseSync(path, { timeout });
    } catch (error) {
      throw new AutomnaError(`cannot open state database ${path}: ${(error as Error).message}`, { code: "state_open" });
    }
    const store = new SqliteStore(path, db, options.now ?? (() => new Date()), new Map());
    try {
      store.#migrate(options.synchronous ?? "NORMAL");
    } catch (error) {
      db.close();
      throw isCorrupt(error) ? new StateCorruptError(path, error) : error;
    }
    if (path !== ":memory:") tightenCompanions(path);
    return store;
  }

  #migrate(synchronous: "NORMAL" | "FULL"): void {
    const found = Number((this.#db.prepare("PRAGMA user_version").get() as Row).user_version);
    // Checked before anything is written, WAL mode included.
    if (found > SCHEMA_VERSION) throw new SchemaTooNewError(this.location, found);
    if (this.location !== ":memory:" && (this.#db.prepare("PRAGMA journal_mode").get() as Row).journal_mode !== "wal") {
      // Switching to WAL writes the header: a database not opened by automna before is checked first.
      const check = String((this.#db.prepare("PRAGMA quick_check").get() as Row).quick_check);
      if (check !== "ok") throw new StateCorruptError(this.location, new Error(check));
      this.#db.exec("PRAGMA journal_mode = WAL");
    }
    this.#db.exec(`PRAGMA foreign_keys = ON; PRAGMA synchronous = ${synchronous}`);
    if (found === SCHEMA_VERSION) return;
    this.#write(() => {
      const current = Number((this.#db.prepare("PRAGMA user_version").get() as Row).user_version);
      if (current > SCHEMA_VERSION) throw new SchemaTooNewError(this.location, current);
      for (let v = current; v < SCHEMA_VERSION; v++) this.#db.exec(MIGRATIONS[v]!);
      this.#db.exec(`PRAGMA user_version = ${SCHEMA_VERSION}`);
    });
  }

  #iso(): string {
    return this.#now().toISOString();
  }

  /** Runs fn in BEGIN IMMEDIATE ... COMMIT; a busy database becomes a LockedError naming who has it open. */
  #write<T>(fn: () => T): T {
    try {
      this.#db.exec("BEGIN IMMEDIATE");
    } catch (error) {
      if (isBusy(error)) throw this.#busyError();
      throw error;
    }
    try {
      const result = runClaimedSync((sql, params) => this.#run(sql, ...params), this.#stamp?.idempotency, this.#now(), fn);
      this.#db.exec("COMMIT");
      return result;
    } catch (error) {
      try {
        this.#db.exec("ROLLBACK");
      } catch {
        /* already rolled back by SQLite */
      }
      if (isBusy(error)) throw this.#busyError();
      throw this.#named(error);
    }
  }

  #busyError(): LockedError {
    const holders = findDatabaseHolders(this.location);
    const who = holders.length
      ? holders.map((h) => `pid ${h.pid}${h.command ? ` (${h.command.slice(0, 120)})` : ""}`).join(", ")
      : "another process";
    return new LockedError(`state database ${this.location} is locked by ${who}`, undefined, {
      code: "state_busy",
      hint: "wait for it to finish, or raise state.busyTimeoutMs",
    });
  }

  /** Prepared once per SQL text: preparing costs more than most of these queries. */
  #prepare(sql: string): StatementSync {
    let statement = this.#statements.get(sql);
    if (!statement) {
      statement = this.#db.prepare(sql);
      this.#statements.set(sql, statement);
    }
    return statement;
  }

  #get(sql: string, ...params: SQLInputValue[]): Row | undefined {
    try {
      return this.#prepare(sql).get(...params) as Row | undefined;
    } catch (error) {
      throw this.#named(error);
    }
  }

  #all(sql: string, ...params: SQLInputValue[]): Row[] {
    try {
      return this.#prepare(sql).all(...params) as Row[];
    } catch (error) {
      throw this.#named(error);
    }
  }

  /** Damage found while reading or writing names the file (SQLite's own message does not). */
  #named(error: unknown): unknown {
    return isCorrupt(error) ? new StateCorruptError(this.location, error) : error;
  }

  #run(sql: string, ...params: SQLInputValue[]): number {
    return Number(this.#prepare(sql).run(...params).changes);
  }

  /** On an audited view: the audit row of the mutation being made, inside its transaction. */
  #audit(action: AuditAction, target: string, details: Record<string, unknown>): void {
    if (!this.#stamp) return;
    this.#run("INSERT INTO audit (at, who, action, target, request_id, details) VALUES (?, ?, ?, ?, ?, ?)",
      this.#iso(), this.#stamp.who, action, target, this.#stamp.requestId, json(details));
  }

  #liveLease(user: string): Lease | undefined {
    const row = this.#get("SELECT * FROM leases WHERE user = ? AND lease_id IS NOT NULL AND expires_at > ?", user, this.#iso());
    return row && rowToLease(row);
  }

  #checkLease(user: string, lease: LeaseRef | undefined): void {
    assertLeaseAllows(user, lease, this.#liveLease(user));
  }

  // ---- instances

  async getInstance(user: string, role: InstanceRole = "live"): Promise<Instance | undefined> {
    const row = this.#get("SELECT * FROM instances WHERE user = ? AND role = ? ORDER BY created_at DESC LIMIT 1", user, role);
    return row && rowToInstance(row);
  }

  async getInstanceById(id: string): Promise<Instance | undefined> {
    const row = this.#get("SELECT * FROM instances WHERE id = ?", id);
    return row && rowToInstance(row);
  }

  async listInstances(filter: InstanceFilter = {}): Promise<Instance[]> {
    const where = new Where<SQLInputValue>()
      .add("user = ?", filter.user)
      .add("provider = ?", filter.provider)
      .add("region = ?", filter.region)
      .add("status = ?", filter.status)
      .add("role = ?", filter.role)
      .add("user IN (SELECT value FROM json_each(?))", filter.users && JSON.stringify(filter.users));
    // Rows as arrays, not objects: node:sqlite builds 10,000 keyed objects slower than it builds
    // arrays, and `list` of a whole fleet spends most of its query time there.
    const statement = this.#prepare(`SELECT ${INSTANCE_COLUMNS} FROM instances${where} ORDER BY user, created_at`);
    statement.setReturnArrays(true);
    return (statement.all(...where.params) as unknown as Cell[][]).map(arrayToInstance);
  }

  async createInstance(input: NewInstance, options: WriteOptions = {}): Promise<Instance> {
    const now = this.#iso();
    const instance: Instance = {
      ...input,
      id: input.id ?? newId("ins", this.#now()),
      createdAt: input.createdAt ?? now,
      updatedAt: now,
      version: 1,
    };
    return this.#write(() => {
      this.#checkLease(instance.user, options.lease);
      if (instance.role !== "retired") {
        const clash = this.#get("SELECT id, provider FROM instances WHERE user = ? AND role = ?", instance.user, instance.role);
        if (clash) throw new ConflictError(`${instance.user} already has a ${instance.role} instance on ${str(clash.provider)}`);
      }
      this.#run(
        `INSERT INTO instances (id, user, role, provider, region, size, image, resources, addresses, status, op_id, meta, created_at, updated_at, version)
         VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
        instance.id, instance.user, instance.role, instance.provider, instance.region, instance.size, instance.image,
        json(instance.resources), json(instance.addresses), instance.status, instance.opId, json(instance.meta),
        instance.createdAt, instance.updatedAt, instance.version,
      );
      this.#audit("instance.create", instance.user, { id: instance.id, role: instance.role, provider: instance.provider });
      return instance;
    });
  }

  async updateInstance(id: string, patch: InstancePatch, options: UpdateOptions = {}): Promise<Instance> {
    return this.#write(() => {
      const row = this.#get("SELECT * FROM instances WHERE id = ?", id);
      if (!row) throw new NotFoundError(`instance ${id} not found`);
      const current = rowToInstance(row);
      this.#checkLease(current.user, options.lease);
      assertVersion(`instance of ${current.user}`, current.version, options.expectedVersion);
      const next: Instance = { ...current, ...patch, updatedAt: this.#iso(), version: current.version + 1 };
      if (patch.role && patch.role !== current.role && patch.role !== "retired") {
        const clash = this.#get("SELECT id FROM instances WHERE user = ? AND role = ? AND id <> ?", next.user, patch.role, id);
        if (clash) throw new ConflictError(`${next.user} already has a ${patch.role} instance`);
      }
      this.#run(
        `UPDATE instances SET role = ?, region = ?, size = ?, image = ?, resources = ?, addresses = ?, status = ?, op_id = ?, meta = ?,
         updated_at = ?, version = ? WHERE id = ? AND version = ?`,
        next.role, next.region, next.size, next.image, json(next.resources), json(next.addresses), next.status, next.opId,
        json(next.meta), next.updatedAt, next.version, id, current.version,
      );
      this.#audit("instance.update", next.user, { id, version: next.version, fields: Object.keys(patch) });
      return next;
    });
  }

  async deleteInstance(id: string, options: UpdateOptions = {}): Promise<void> {
    this.#write(() => {
      const row = this.#get("SELECT * FROM instances WHERE id = ?", id);
      if (!row) return;
      const current = rowToInstance(row);
      this.#checkLease(current.user, options.lease);
      assertVersion(`instance of ${current.user}`, current.version, options.expectedVersion);
      this.#run("DELETE FROM instances WHERE id = ?", id);
      this.#audit("instance.delete", current.user, { id, version: current.version });
    });
  }

  // ---- usage

  async openUsage(input: NewUsageInterval, options: WriteOptions = {}): Promise<UsageInterval> {
    const interval: UsageInterval = { ...input, id: newId("use", this.#now()), end: input.end ?? null };
    return this.#write(() => {
      this.#checkLease(interval.user, options.lease);
      this.#run(
        `INSERT INTO usage (id, user, instance_id, provider, size, region, kind, quantity, hourly_price, monthly_price, currency, start, end)
         VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
        interval.id, interval.user, interval.instanceId, interval.provider, interval.size, interval.region, interval.kind,
        interval.quantity, interval.hourlyPrice, interval.monthlyPrice, interval.currency, interval.start, interval.end,
      );
      this.#audit("usage.open", interval.user, { id: interval.id, instanceId: interval.instanceId, kind: interval.kind });
      return interval;
    });
  }

  async closeUsage(instanceId: string, end: string, options: WriteOptions = {}): Promise<UsageInterval[]> {
    return this.#write(() => {
      const open = this.#all("SELECT * FROM usage WHERE instance_id = ? AND end IS NULL", instanceId).map(rowToUsage);
      if (open.length === 0) return [];
      this.#checkLease(open[0]!.user, options.lease);
      // An interval never ends before it starts, even if a clock went backwards.
      this.#run("UPDATE usage SET end = CASE WHEN start > ? THEN start ELSE ? END WHERE instance_id = ? AND end IS NULL", end, end, instanceId);
      this.#audit("usage.close", open[0]!.user, { instanceId, end, ids: open.map((u) => u.id) });
      return open.map((u) => ({ ...u, end: u.start > end ? u.start : end }));
    });
  }

  async listUsage(filter: UsageFilter = {}): Promise<UsageInterval[]> {
    const where = new Where<SQLInputValue>()
      .add("user = ?", filter.user)
      .add("provider = ?", filter.provider)
      .add("instance_id = ?", filter.instanceId)
      .add("start < ?", filter.to)
      .add("(end IS NULL OR end > ?)", filter.from)
      .raw("end IS NULL", filter.openOnly);
    // Arrays, not keyed rows: a cost report reads a whole fleet's history (only this SQL text
    // is ever run with arrays on, so the cached statement keeps the setting).
    const stmt = this.#prepare(`SELECT ${USAGE_COLUMNS} FROM usage${where} ORDER BY user, start`);
    stmt.setReturnArrays(true);
    const out: UsageInterval[] = [];
    for (const row of stmt.iterate(...where.params)) out.push(usageFromArray(row as unknown as SQLOutputValue[]));
    return out;
  }

  // ---- operations

  async createOperation(input: NewOperation, options: WriteOptions = {}): Promise<Operation> {
    const now = this.#iso();
    const op: Operation = {
      id: input.id ?? newId("op", this.#now()), kind: input.kind, user: input.user, status: input.status ?? "running",
      step: input.step ?? null, params: input.params ?? {}, data: input.data ?? {}, error: null, createdAt: now, updatedAt: now, version: 1,
    };
    return this.#write(() => {
      this.#checkLease(op.user, options.lease);
      if (this.#get("SELECT id FROM operations WHERE id = ?", op.id)) throw new ConflictError(`operation ${op.id} already exists`);
      this.#run(
        `INSERT INTO operations (id, kind, user, status, step, params, data, error, created_at, updated_at, version) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
        op.id, op.kind, op.user, op.status, op.step, json(op.params), json(op.data), op.error, op.createdAt, op.updatedAt, op.version,
      );
      this.#audit("operation.create", op.user, { id: op.id, kind: op.kind });
      return op;
    });
  }

  async getOperation(id: string): Promise<Operation | undefined> {
    const row = this.#get("SELECT * FROM operations WHERE id = ?", id);
    return row && rowToOperation(row);
  }

  async listOperations(filter: OperationFilter = {}): Promise<Operation[]> {
    const where = new Where<SQLInputValue>()
      .add("user = ?", filter.user)
      .add("kind = ?", filter.kind)
      .add("status = ?", filter.status)
      .raw("status IN ('running', 'rolling_back')", filter.active);
    return this.#all(`SELECT * FROM operations${where} ORDER BY id DESC${limitClause(filter.limit)}`, ...where.params).map(rowToOperation);
  }

  async updateOperation(id: string, patch: OperationPatch, options: UpdateOptions = {}): Promise<Operation> {
    return this.#write(() => {
      const row = this.#get("SELECT * FROM operations WHERE id = ?", id);
      if (!row) throw new NotFoundError(`operation ${id} not found`);
      const current = rowToOperation(row);
      this.#checkLease(current.user, options.lease);
      assertVersion(`operation ${id}`, current.version, options.expectedVersion);
      const next: Operation = { ...current, ...patch, updatedAt: this.#iso(), version: current.version + 1 };
      this.#run(
        "UPDATE operations SET status = ?, step = ?, params = ?, data = ?, error = ?, updated_at = ?, version = ? WHERE id = ?",
        next.status, next.step, json(next.params), json(next.data), next.error, next.updatedAt, next.version, id,
      );
      this.#audit("operation.update", next.user, { id, version: next.version, fields: Object.keys(patch) });
      return next;
    });
  }

  async appendJournal(opId: string, entry: NewJournalEntry, options: WriteOptions = {}): Promise<JournalEntry> {
    return this.#write(() => {
      const op = this.#get("SELECT user FROM operations WHERE id = ?", opId);
      if (!op) throw new NotFoundError(`operation ${opId} not found`);
      this.#checkLease(str(op.user), options.lease);
      const last = this.#get("SELECT MAX(seq) AS seq FROM journal WHERE op_id = ?", opId);
      const written: JournalEntry = {
        opId, seq: Number(last?.seq ?? 0) + 1, step: entry.step, phase: entry.phase, data: entry.data ?? {}, at: this.#iso(),
      };
      this.#run("INSERT INTO journal (op_id, seq, step, phase, data, at) VALUES (?, ?, ?, ?, ?, ?)",
        opId, written.seq, written.step, written.phase, json(written.data), written.at);
      this.#audit("journal.append", str(op.user), { opId, seq: written.seq, step: written.step, phase: written.phase });
      return written;
    });
  }

  async listJournal(opId: string): Promise<JournalEntry[]> {
    return this.#all("SELECT * FROM journal WHERE op_id = ? ORDER BY seq", opId).map((r) => ({
      opId: str(r.op_id), seq: Number(r.seq), step: str(r.step), phase: str(r.phase) as JournalEntry["phase"], data: parse(r.data), at: str(r.at),
    }));
  }

  // ---- leases

  async acquireLease(user: string, holder: LeaseHolder, ttlMs: number): Promise<Lease> {
    return this.#write(() => {
      const now = this.#now();
      const row = this.#get("SELECT * FROM leases WHERE user = ?", user);
      if (row && row.lease_id !== null && str(row.expires_at) > now.toISOString()) {
        throw lockedBy(user, rowToLease(row));
      }
      const lease: Lease = {
        user, leaseId: newId("lease", now), holder, acquiredAt: now.toISOString(), heartbeatAt: now.toISOString(),
        expiresAt: new Date(now.getTime() + ttlMs).toISOString(), fence: Number(row?.fence ?? 0) + 1,
      };
      this.#run(
        `INSERT INTO leases (user, lease_id, holder, acquired_at, heartbeat_at, expires_at, fence) VALUES (?, ?, ?, ?, ?, ?, ?)
         ON CONFLICT(user) DO UPDATE SET lease_id = excluded.lease_id, holder = excluded.holder, acquired_at = excluded.acquired_at,
         heartbeat_at = excluded.heartbeat_at, expires_at = excluded.expires_at, fence = excluded.fence`,
        user, lease.leaseId, json(holder), lease.acquiredAt, lease.heartbeatAt, lease.expiresAt, lease.fence,
      );
      this.#audit("lease.acquire", user, { leaseId: lease.leaseId, operation: holder.operation, holder: holder.who, ttlMs, fence: lease.fence });
      return lease;
    });
  }

  async renewLease(ref: LeaseRef, ttlMs: number): Promise<Lease> {
    return this.#write(() => {
      this.#checkLease(ref.user, ref);
      const now = this.#now();
      const expiresAt = new Date(now.getTime() + ttlMs).toISOString();
      this.#run("UPDATE leases SET heartbeat_at = ?, expires_at = ? WHERE user = ? AND lease_id = ?", now.toISOString(), expiresAt, ref.user, ref.leaseId);
      this.#audit("lease.renew", ref.user, { leaseId: ref.leaseId, expiresAt });
      return rowToLease(this.#get("SELECT * FROM leases WHERE user = ?", ref.user)!);
    });
  }

  async releaseLease(ref: LeaseRef): Promise<void> {
    this.#write(() => {
      // Releasing a lease that was already lost is not an error: there is nothing left to free.
      const changed = this.#run("UPDATE leases SET lease_id = NULL, holder = NULL, expires_at = NULL WHERE user = ? AND lease_id = ?", ref.user, ref.leaseId);
      if (changed) this.#audit("lease.release", ref.user, { leaseId: ref.leaseId });
    });
  }

  async getLease(user: string): Promise<Lease | undefined> {
    return this.#liveLease(user);
  }

  async listLeases(): Promise<Lease[]> {
    return this.#all("SELECT * FROM leases WHERE lease_id IS NOT NULL AND expires_at > ? ORDER BY user", this.#iso()).map(rowToLease);
  }

  async breakLease(user: string, leaseId: string): Promise<Lease> {
    return this.#write(() => {
      const row = this.#get("SELECT * FROM leases WHERE user = ? AND lease_id = ?", user, leaseId);
      if (!row) throw new NotFoundError(`no lease ${leaseId} on ${user}`, { hint: "automna lock list shows live leases" });
      const lease = rowToLease(row);
      this.#run("UPDATE leases SET lease_id = NULL, holder = NULL, expires_at = NULL WHERE user = ?", user);
      this.#audit("lease.break", user, { leaseId, holder: lease.holder.who, operation: lease.holder.operation });
      return lease;
    });
  }

  // ---- audit

  async appendAudit(entry: NewAuditEntry): Promise<AuditEntry> {
    return this.#write(() => {
      const at = this.#iso();
      const result = this.#prepare("INSERT INTO audit (at, who, action, target, request_id, details) VALUES (?, ?, ?, ?, ?, ?)")
        .run(at, entry.who, entry.action, entry.target, entry.requestId ?? null, json(entry.details));
      return { id: Number(result.lastInsertRowid), at, who: entry.who, action: entry.action, target: entry.target, requestId: entry.requestId ?? null, details: entry.details ?? {} };
    });
  }

  async listAudit(filter: AuditFilter = {}): Promise<AuditEntry[]> {
    const where = new Where<SQLInputValue>()
      .add("who = ?", filter.who)
      .add("action = ?", filter.action)
      .add("target = ?", filter.target)
      .add("at >= ?", filter.since)
      .add("at < ?", filter.until);
    return this.#all(`SELECT * FROM audit${where} ORDER BY id${filter.order === "desc" ? " DESC" : ""}${limitClause(filter.limit)}`, ...where.params).map(rowToAudit);
  }

  async ping(): Promise<void> {
    this.#get("SELECT 1 AS ok");
  }

  // ---- idempotency records (written by #write on keyed views; see idempotency.ts)

  async getIdempotency(operator: string, key: string, notBefore: string): Promise<IdempotencyRecord | undefined> {
    const row = this.#get(idempotencySql("sqlite", "find"), operator, key, notBefore);
    return row && toRecord(row);
  }

  async purgeIdempotency(before: string): Promise<number> {
    return this.#write(() => this.#run(idempotencySql("sqlite", "purge"), before));
  }

  // ---- tokens (server administration)

  async insertToken(record: TokenRecord): Promise<void> {
    this.#write(() => {
      this.#run("INSERT INTO tokens (id, operator, scope, hash, created_at, created_by, last_used_at, revoked_at) VALUES (?, ?, ?, ?, ?, ?, NULL, NULL)",
        record.id, record.operator, record.scope, record.hash, record.createdAt, record.createdBy);
      this.#audit("token.create", record.operator, { id: record.id, scope: record.scope });
    });
  }

  async getToken(id: string): Promise<TokenRecord | undefined> {
    const row = this.#get("SELECT * FROM tokens WHERE id = ?", id);
    return row && rowToToken(row);
  }

  async listTokens(): Promise<TokenInfo[]> {
    return this.#all("SELECT * FROM tokens ORDER BY id").map((r) => toTokenInfo(rowToToken(r)));
  }

  async revokeToken(id: string): Promise<TokenInfo> {
    return this.#write(() => {
      const row = this.#get("SELECT * FROM tokens WHERE id = ?", id);
      if (!row) throw new NotFoundError(`no token ${id}`, { hint: "automna state token list shows the tokens" });
      const token = rowToToken(row);
      if (token.revokedAt) return toTokenInfo(token);
      const revokedAt = this.#iso();
      this.#run("UPDATE tokens SET revoked_at = ? WHERE id = ?", revokedAt, id);
      this.#audit("token.revoke", token.operator, { id });
      return toTokenInfo({ ...token, revokedAt });
    });
  }

  async touchToken(id: string, at: string, staleBefore: string): Promise<void> {
    // Best effort: a busy database must not fail the request that only wanted to read.
    try {
      this.#write(() => this.#run("UPDATE tokens SET last_used_at = ? WHERE id = ? AND (last_used_at IS NULL OR last_used_at < ?)", at, id, staleBefore));
    } catch (error) {
      if (!(error instanceof LockedError)) throw error;
    }
  }

  /** Closes the database; a no-op on audited views (they share the store's connection). */
  async close(): Promise<void> {
    if (this.#stamp) return;
    if (this.#db.isOpen) this.#db.close();
  }
}
