import { ConflictError, LockedError, NotFoundError } from "../lib/errors.js";
import { newId } from "../lib/ids.js";
import { claimed, findIdempotency, purgeIdempotency, type IdempotencyRecord } from "./idempotency.js";
import {
  AUDIT_COLUMNS, INSTANCE_COLUMNS, JOURNAL_COLUMNS, LEASE_COLUMNS, OPERATION_COLUMNS, TOKEN_COLUMNS, USAGE_COLUMNS,
  toAudit, toInstance, toJournal, toLease, toNumber, toOperation, toText, toToken, toUsage,
} from "./rows.js";
import { assertLeaseAllows, assertLeaseHolder, assertVersion, lockedBy, type AuditAction, type AuditStamp } from "./rules.js";
import type { Dialect } from "./sql-dialect.js";
import { all, first, lockUser, run, type Steps } from "./sql-steps.js";
import { toTokenInfo, type ServerBackend, type TokenInfo, type TokenRecord } from "./tokens.js";
import type {
  AuditEntry, AuditFilter, Instance, InstanceFilter, InstancePatch, InstanceRole, JournalEntry, Lease, LeaseHolder, LeaseRef,
  NewAuditEntry, NewInstance, NewJournalEntry, NewOperation, NewUsageInterval, Operation, OperationFilter, OperationPatch,
  UpdateOptions, UsageFilter, UsageInterval, WriteOptions,
} from "./types.js";
import { limitClause, Where } from "./where.js";

const marks = (n: number): string => Array.from({ length: n }, () => "?").join(", ");
const LEASES = `SELECT ${LEASE_COLUMNS} FROM leases`;
const FREE_LEASE = "UPDATE leases SET lease_id = NULL, holder = NULL, expires_at = NULL WHERE {user} = ?";

/** Steps that need the store (its stamp, its other steps), run with `this` bound to it. */
type Make<T> = (this: SqlStore, now: Date) => Steps<T>;

/**
 * The one set of store rules, for the embedded SQLite store and the PostgreSQL store alike:
 * fencing (a write under a lease must present the live one; nobody else writes a leased user),
 * versions (a stale expectedVersion is refused), roles (one live and one target instance per
 * user), the lease holder rule, and an audit row in the same transaction as every mutation made
 * through an audited store. Each subclass only opens transactions and answers queries
 * (sql-steps.ts); a new rule is written here once.
 */
export abstract class SqlStore implements ServerBackend {
  abstract readonly kind: "sqlite" | "postgres";
  readonly location: string;
  /** Set on audited stores: who writes, and on server requests the idempotency claim. */
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

  /** Throws when the database cannot answer (the server's health check). */
  async ping(): Promise<void> {
    await this.#read(() => first("SELECT 1", [], toNumber));
  }

  /** A mutation: its idempotency claim (keyed server requests), its rules and its audit row commit together. */
  #write<T>(make: Make<T>): Promise<T> {
    return this.transaction((now) => claimed(this.stamp?.idempotency, now, make.call(this, now)));
  }

  #read<T>(make: Make<T>): Promise<T> {
    return this.read((now) => make.call(this, now));
  }

  *#audit(now: Date, action: AuditAction, target: string, details: Record<string, unknown>): Steps<void> {
    if (!this.stamp) return;
    yield* run("INSERT INTO audit (at, who, action, target, request_id, details) VALUES (?, ?, ?, ?, ?, ?)",
      [now.toISOString(), this.stamp.who, action, target, this.stamp.requestId, details]);
  }

  *#liveLease(user: string, now: Date): Steps<Lease | undefined> {
    return yield* first(`${LEASES} WHERE {user} = ? AND lease_id IS NOT NULL AND expires_at > ?`, [user, now.toISOString()], toLease);
  }

  /** Fencing, under the user's shared lock: a lease cannot be broken or taken between this check and the commit. */
  *#checkLease(user: string, presented: LeaseRef | undefined, now: Date): Steps<void> {
    yield* lockUser(user, false);
    const live = yield* this.#liveLease(user, now);
    assertLeaseAllows(user, presented, live);
  }

  /** One live and one target instance per user; retired ones are not limited. */
  *#assertRoleFree(user: string, role: InstanceRole, exceptId: string): Steps<void> {
    if (role === "retired") return;
    const clash = yield* first("SELECT provider FROM instances WHERE {user} = ? AND role = ? AND id <> ?", [user, role, exceptId], toText);
    if (clash !== undefined) throw new ConflictError(`${user} already has a ${role} instance on ${clash}`);
  }

  // ---- instances

  getInstance(user: string, role: InstanceRole = "live"): Promise<Instance | undefined> {
    return this.#read(() => first(`SELECT ${INSTANCE_COLUMNS} FROM instances WHERE {user} = ? AND role = ? ORDER BY created_at DESC LIMIT 1`, [user, role], toInstance));
  }

  getInstanceById(id: string): Promise<Instance | undefined> {
    return this.#read(() => first(`SELECT ${INSTANCE_COLUMNS} FROM instances WHERE id = ?`, [id], toInstance));
  }

  listInstances(filter: InstanceFilter = {}): Promise<Instance[]> {
    const where = new Where().add("{user} = ?", filter.user).add("provider = ?", filter.provider).add("region = ?", filter.region)
      .add("status = ?", filter.status).add("role = ?", filter.role);
    if (filter.users) {
      const users = this.#dialect.oneOf("{user}", filter.users);
      where.add(users.clause, users.param);
    }
    return this.#read(() => all(`SELECT ${INSTANCE_COLUMNS} FROM instances${where} ORDER BY {user}, created_at`, where.params, toInstance));
  }

  createInstance(input: NewInstance, options: WriteOptions = {}): Promise<Instance> {
    return this.#write(function* (now) {
      const i: Instance = { ...input, id: input.id ?? newId("ins", now), createdAt: input.createdAt ?? now.toISOString(), updatedAt: now.toISOString(), version: 1 };
      yield* this.#checkLease(i.user, options.lease, now);
      yield* this.#assertRoleFree(i.user, i.role, i.id);
      yield* run(`INSERT INTO instances (${INSTANCE_COLUMNS}) VALUES (${marks(15)})`, [
        i.id, i.user, i.role, i.provider, i.region, i.size, i.image, i.resources, i.addresses, i.status, i.opId, i.meta, i.createdAt, i.updatedAt, i.version,
      ]);
      yield* this.#audit(now, "instance.create", i.user, { id: i.id, role: i.role, provider: i.provider });
      return i;
    });
  }

  updateInstance(id: string, patch: InstancePatch, options: UpdateOptions = {}): Promise<Instance> {
    return this.#write(function* (now) {
      const current = yield* first(`SELECT ${INSTANCE_COLUMNS} FROM instances WHERE id = ? FOR UPDATE`, [id], toInstance);
      if (!current) throw new NotFoundError(`instance ${id} not found`);
      yield* this.#checkLease(current.user, options.lease, now);
      assertVersion(`instance of ${current.user}`, current.version, options.expectedVersion);
      const n: Instance = { ...current, ...patch, updatedAt: now.toISOString(), version: current.version + 1 };
      if (n.role !== current.role) yield* this.#assertRoleFree(n.user, n.role, id);
      yield* run(`UPDATE instances SET role = ?, region = ?, size = ?, image = ?, resources = ?, addresses = ?, status = ?, op_id = ?, meta = ?,
         updated_at = ?, version = ? WHERE id = ? AND version = ?`,
      [n.role, n.region, n.size, n.image, n.resources, n.addresses, n.status, n.opId, n.meta, n.updatedAt, n.version, id, current.version]);
      yield* this.#audit(now, "instance.update", n.user, { id, version: n.version, fields: Object.keys(patch) });
      return n;
    });
  }

  async deleteInstance(id: string, options: UpdateOptions = {}): Promise<void> {
    await this.#write(function* (now) {
      const current = yield* first(`SELECT ${INSTANCE_COLUMNS} FROM instances WHERE id = ? FOR UPDATE`, [id], toInstance);
      if (!current) return;
      yield* this.#checkLease(current.user, options.lease, now);
      assertVersion(`instance of ${current.user}`, current.version, options.expectedVersion);
      yield* run("DELETE FROM instances WHERE id = ?", [id]);
      yield* this.#audit(now, "instance.delete", current.user, { id, version: current.version });
    });
  }

  // ---- usage

  openUsage(input: NewUsageInterval, options: WriteOptions = {}): Promise<UsageInterval> {
    return this.#write(function* (now) {
      const u: UsageInterval = { ...input, id: newId("use", now), end: input.end ?? null };
      yield* this.#checkLease(u.user, options.lease, now);
      yield* run(`INSERT INTO usage (${USAGE_COLUMNS}) VALUES (${marks(13)})`, [
        u.id, u.user, u.instanceId, u.provider, u.size, u.region, u.kind, u.quantity, u.hourlyPrice, u.monthlyPrice, u.currency, u.start, u.end,
      ]);
      yield* this.#audit(now, "usage.open", u.user, { id: u.id, instanceId: u.instanceId, kind: u.kind });
      return u;
    });
  }

  closeUsage(instanceId: string, end: string, options: WriteOptions = {}): Promise<UsageInterval[]> {
    return this.#write(function* (now) {
      const open = yield* all(`SELECT ${USAGE_COLUMNS} FROM usage WHERE instance_id = ? AND {end} IS NULL ORDER BY {start} FOR UPDATE`, [instanceId], toUsage);
      if (open.length === 0) return [];
      const user = open[0]!.user;
      yield* this.#checkLease(user, options.lease, now);
      // An interval never ends before it starts, even if a clock went backwards.
      yield* run("UPDATE usage SET {end} = CASE WHEN {start} > ? THEN {start} ELSE ? END WHERE instance_id = ? AND {end} IS NULL", [end, end, instanceId]);
      yield* this.#audit(now, "usage.close", user, { instanceId, end, ids: open.map((u) => u.id) });
      return open.map((u) => ({ ...u, end: u.start > end ? u.start : end }));
    });
  }

  listUsage(filter: UsageFilter = {}): Promise<UsageInterval[]> {
    const where = new Where().add("{user} = ?", filter.user).add("provider = ?", filter.provider).add("instance_id = ?", filter.instanceId)
      .add("{start} < ?", filter.to).add("({end} IS NULL OR {end} > ?)", filter.from).raw("{end} IS NULL", filter.openOnly);
    return this.#read(() => all(`SELECT ${USAGE_COLUMNS} FROM usage${where} ORDER BY {user}, {start}`, where.params, toUsage));
  }

  // ---- operations

  createOperation(input: NewOperation, options: WriteOptions = {}): Promise<Operation> {
    return this.#write(function* (now) {
      const op: Operation = {
        id: input.id ?? newId("op", now), kind: input.kind, user: input.user, status: input.status ?? "running", step: input.step ?? null,
        params: input.params ?? {}, data: input.data ?? {}, error: null, createdAt: now.toISOString(), updatedAt: now.toISOString(), version: 1,
      };
      yield* this.#checkLease(op.user, options.lease, now);
      const inserted = yield* run(`INSERT INTO operations (${OPERATION_COLUMNS}) VALUES (${marks(11)}) ON CONFLICT (id) DO NOTHING`, [
        op.id, op.kind, op.user, op.status, op.step, op.params, op.data, op.error, op.createdAt, op.updatedAt, op.version,
      ]);
      if (!inserted) throw new ConflictError(`operation ${op.id} already exists`);
      yield* this.#audit(now, "operation.create", op.user, { id: op.id, kind: op.kind });
      return op;
    });
  }

  getOperation(id: string): Promise<Operation | undefined> {
    return this.#read(() => first(`SELECT ${OPERATION_COLUMNS} FROM operations WHERE id = ?`, [id], toOperation));
  }

  /** Newest first (ids grow with time); `before` pages through them. */
  listOperations(filter: OperationFilter = {}): Promise<Operation[]> {
    const where = new Where().add("{user} = ?", filter.user).add("kind = ?", filter.kind).add("status = ?", filter.status)
      .raw("status IN ('running', 'rolling_back')", filter.active).add("id < ?", filter.before);
    return this.#read(() => all(`SELECT ${OPERATION_COLUMNS} FROM operations${where} ORDER BY id DESC${limitClause(filter.limit)}`, where.params, toOperation));
  }

  updateOperation(id: string, patch: OperationPatch, options: UpdateOptions = {}): Promise<Operation> {
    return this.#write(function* (now) {
      const current = yield* first(`SELECT ${OPERATION_COLUMNS} FROM operations WHERE id = ? FOR UPDATE`, [id], toOperation);
      if (!current) throw new NotFoundError(`operation ${id} not found`);
      yield* this.#checkLease(current.user, options.lease, now);
      assertVersion(`operation ${id}`, current.version, options.expectedVersion);
      const n: Operation = { ...current, ...patch, updatedAt: now.toISOString(), version: current.version + 1 };
      yield* run("UPDATE operations SET status = ?, step = ?, params = ?, data = ?, error = ?, updated_at = ?, version = ? WHERE id = ?",
        [n.status, n.step, n.params, n.data, n.error, n.updatedAt, n.version, id]);
      yield* this.#audit(now, "operation.update", n.user, { id, version: n.version, fields: Object.keys(patch) });
      return n;
    });
  }

  appendJournal(opId: string, entry: NewJournalEntry, options: WriteOptions = {}): Promise<JournalEntry> {
    return this.#write(function* (now) {
      // The operation's row lock orders concurrent appends, so sequence numbers never collide.
      const user = yield* first("SELECT {user} FROM operations WHERE id = ? FOR UPDATE", [opId], toText);
      if (user === undefined) throw new NotFoundError(`operation ${opId} not found`);
      yield* this.#checkLease(user, options.lease, now);
      const last = (yield* first("SELECT COALESCE(MAX(seq), 0) FROM journal WHERE op_id = ?", [opId], toNumber)) ?? 0;
      const j: JournalEntry = { opId, seq: last + 1, step: entry.step, phase: entry.phase, data: entry.data ?? {}, at: now.toISOString() };
      yield* run(`INSERT INTO journal (${JOURNAL_COLUMNS}) VALUES (${marks(6)})`, [opId, j.seq, j.step, j.phase, j.data, j.at]);
      yield* this.#audit(now, "journal.append", user, { opId, seq: j.seq, step: j.step, phase: j.phase });
      return j;
    });
  }

  listJournal(opId: string): Promise<JournalEntry[]> {
    return this.#read(() => all(`SELECT ${JOURNAL_COLUMNS} FROM journal WHERE op_id = ? ORDER BY seq`, [opId], toJournal));
  }

  // ---- leases: every change takes the user's exclusive lock (see #checkLease)

  acquireLease(user: string, holder: LeaseHolder, ttlMs: number): Promise<Lease> {
    return this.#write(function* (now) {
      yield* lockUser(user, true);
      const live = yield* this.#liveLease(user, now);
      if (live) throw lockedBy(user, live);
      const fence = ((yield* first("SELECT fence FROM leases WHERE {user} = ?", [user], toNumber)) ?? 0) + 1;
      const lease: Lease = {
        user, leaseId: newId("lease", now), holder, acquiredAt: now.toISOString(), heartbeatAt: now.toISOString(),
        expiresAt: new Date(now.getTime() + ttlMs).toISOString(), fence,
      };
      yield* run(`INSERT INTO leases (${LEASE_COLUMNS}) VALUES (${marks(7)}) ON CONFLICT ({user}) DO UPDATE SET lease_id = excluded.lease_id,
         holder = excluded.holder, acquired_at = excluded.acquired_at, heartbeat_at = excluded.heartbeat_at, expires_at = excluded.expires_at,
         fence = excluded.fence`, [user, lease.leaseId, holder, lease.acquiredAt, lease.heartbeatAt, lease.expiresAt, lease.fence]);
      yield* this.#audit(now, "lease.acquire", user, { leaseId: lease.leaseId, operation: holder.operation, holder: holder.who, ttlMs, fence });
      return lease;
    });
  }

  renewLease(ref: LeaseRef, ttlMs: number): Promise<Lease> {
    return this.#write(function* (now) {
      yield* lockUser(ref.user, true);
      const live = yield* this.#liveLease(ref.user, now);
      assertLeaseAllows(ref.user, ref, live);
      assertLeaseHolder(live!, this.stamp);
      const expiresAt = new Date(now.getTime() + ttlMs).toISOString();
      const renewed = yield* first(`UPDATE leases SET heartbeat_at = ?, expires_at = ? WHERE {user} = ? AND lease_id = ? RETURNING ${LEASE_COLUMNS}`,
        [now.toISOString(), expiresAt, ref.user, ref.leaseId], toLease);
      yield* this.#audit(now, "lease.renew", ref.user, { leaseId: ref.leaseId, expiresAt });
      return renewed!;
    });
  }

  async releaseLease(ref: LeaseRef): Promise<void> {
    await this.#write(function* (now) {
      yield* lockUser(ref.user, true);
      const held = yield* first(`${LEASES} WHERE {user} = ? AND lease_id = ?`, [ref.user, ref.leaseId], toLease);
      // Releasing a lease that was already lost is not an error: there is nothing left to free.
      if (!held) return;
      assertLeaseHolder(held, this.stamp);
      yield* run(`${FREE_LEASE} AND lease_id = ?`, [ref.user, ref.leaseId]);
      yield* this.#audit(now, "lease.release", ref.user, { leaseId: ref.leaseId });
    });
  }

  getLease(user: string): Promise<Lease | undefined> {
    return this.#read(function* (now) {
      return yield* this.#liveLease(user, now);
    });
  }

  listLeases(): Promise<Lease[]> {
    return this.#read((now) => all(`${LEASES} WHERE lease_id IS NOT NULL AND expires_at > ? ORDER BY {user}`, [now.toISOString()], toLease));
  }

  breakLease(user: string, leaseId: string): Promise<Lease> {
    return this.#write(function* (now) {
      yield* lockUser(user, true);
      const lease = yield* first(`${LEASES} WHERE {user} = ? AND lease_id = ?`, [user, leaseId], toLease);
      if (!lease) throw new NotFoundError(`no lease ${leaseId} on ${user}`, { hint: "automna lock list shows live leases" });
      yield* run(FREE_LEASE, [user]);
      yield* this.#audit(now, "lease.break", user, { leaseId, holder: lease.holder.who, operation: lease.holder.operation });
      return lease;
    });
  }

  // ---- audit (an audited store adds no second row for an explicit entry)

  appendAudit(entry: NewAuditEntry): Promise<AuditEntry> {
    return this.#write(function* (now) {
      const written = yield* first(`INSERT INTO audit (at, who, action, target, request_id, details) VALUES (${marks(6)}) RETURNING ${AUDIT_COLUMNS}`,
        [now.toISOString(), entry.who, entry.action, entry.target, entry.requestId ?? null, entry.details ?? {}], toAudit);
      return written!;
    });
  }

  listAudit(filter: AuditFilter = {}): Promise<AuditEntry[]> {
    const where = new Where().add("who = ?", filter.who).add("action = ?", filter.action).add("target = ?", filter.target)
      .add("at >= ?", filter.since).add("at < ?", filter.until);
    const order = filter.order === "desc" ? " DESC" : "";
    return this.#read(() => all(`SELECT ${AUDIT_COLUMNS} FROM audit${where} ORDER BY id${order}${limitClause(filter.limit)}`, where.params, toAudit));
  }

  // ---- idempotency records (written inside #write on keyed views; see idempotency.ts)

  getIdempotency(operator: string, key: string, notBefore: string): Promise<IdempotencyRecord | undefined> {
    return this.#read(() => findIdempotency(operator, key, notBefore));
  }

  purgeIdempotency(before: string): Promise<number> {
    return this.transaction(() => purgeIdempotency(before));
  }

  // ---- tokens (server administration)

  async insertToken(r: TokenRecord): Promise<void> {
    await this.#write(function* (now) {
      yield* run(`INSERT INTO tokens (${TOKEN_COLUMNS}) VALUES (${marks(8)})`, [r.id, r.operator, r.scope, r.hash, r.createdAt, r.createdBy, null, null]);
      yield* this.#audit(now, "token.create", r.operator, { id: r.id, scope: r.scope });
    });
  }

  getToken(id: string): Promise<TokenRecord | undefined> {
    return this.#read(() => first(`SELECT ${TOKEN_COLUMNS} FROM tokens WHERE id = ?`, [id], toToken));
  }

  async listTokens(): Promise<TokenInfo[]> {
    return (await this.#read(() => all(`SELECT ${TOKEN_COLUMNS} FROM tokens ORDER BY id`, [], toToken))).map(toTokenInfo);
  }

  revokeToken(id: string): Promise<TokenInfo> {
    return this.#write(function* (now) {
      const token = yield* first(`SELECT ${TOKEN_COLUMNS} FROM tokens WHERE id = ? FOR UPDATE`, [id], toToken);
      if (!token) throw new NotFoundError(`no token ${id}`, { hint: "automna state token list shows the tokens" });
      if (token.revokedAt) return toTokenInfo(token);
      yield* run("UPDATE tokens SET revoked_at = ? WHERE id = ?", [now.toISOString(), id]);
      yield* this.#audit(now, "token.revoke", token.operator, { id });
      return toTokenInfo({ ...token, revokedAt: now.toISOString() });
    });
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
