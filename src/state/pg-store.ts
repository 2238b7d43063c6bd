import type { Pool, PoolClient } from "pg";
import { AutomnaError, ConflictError, NotFoundError } from "../lib/errors.js";
import { newId } from "../lib/ids.js";
import { Secret } from "../lib/redact.js";
import { describePgUrl } from "./backend.js";
import { idempotencySql, runClaimed, toRecord, type IdempotencyRecord } from "./idempotency.js";
import { migratePg } from "./pg-schema.js";
import { pgAudit, pgInstance, pgJournal, pgLease, pgOperation, pgToken, pgUsage, type PgRow } from "./pg-rows.js";
import { pgCode, RETRYABLE, Tx } from "./pg-tx.js";
import { assertLeaseAllows, assertVersion, lockedBy, type AuditStamp } from "./rules.js";
import { toTokenInfo, type ServerBackend, type TokenInfo, type TokenRecord } from "./tokens.js";
import { limitClause, Where } from "./where.js";
import type {
  AuditEntry, AuditFilter, Instance, InstanceFilter, InstancePatch, InstanceRole, JournalEntry, Lease, LeaseHolder, LeaseRef,
  NewAuditEntry, NewInstance, NewJournalEntry, NewOperation, NewUsageInterval, Operation, OperationFilter, OperationPatch,
  UpdateOptions, UsageFilter, UsageInterval, WriteOptions,
} from "./types.js";

export interface PgStoreOptions {
  now?: () => Date;
  /** Connections in the pool. */
  max?: number;
}

/**
 * The state store on PostgreSQL, for teams running several `automna state serve` replicas on one
 * database. Versions and leases are enforced inside the database (row locks, advisory locks,
 * unique indexes, conditional updates), never in one process's memory.
 */
export class PgStore implements ServerBackend {
  readonly kind = "postgres";
  readonly location: string;
  readonly #pool: Pool;
  readonly #now: () => Date;
  readonly #stamp: AuditStamp | undefined;

  private constructor(location: string, pool: Pool, now: () => Date, stamp?: AuditStamp) {
    this.location = location;
    this.#pool = pool;
    this.#now = now;
    this.#stamp = stamp;
  }

  static async open(url: string, options: PgStoreOptions = {}): Promise<PgStore> {
    const location = describePgUrl(url);
    try {
      const password = new URL(url).password;
      if (password) new Secret(decodeURIComponent(password));
    } catch {
      throw new AutomnaError(`invalid PostgreSQL URL ${location}`, { code: "usage", exitCode: 2 });
    }
    const { default: pg } = await import("pg");
    const pool = new pg.Pool({ connectionString: url, max: options.max ?? 10, application_name: "automna" });
    // An idle connection dropped by the server must not crash the process; the next query reconnects.
    pool.on("error", () => undefined);
    const store = new PgStore(location, pool, options.now ?? (() => new Date()));
    try {
      const client = await store.#connect();
      try {
        await migratePg(client, location);
      } finally {
        client.release();
      }
    } catch (error) {
      await pool.end().catch(() => undefined);
      throw error;
    }
    return store;
  }

  audited(stamp: AuditStamp): PgStore {
    return new PgStore(this.location, this.#pool, this.#now, stamp);
  }

  async #connect(): Promise<PoolClient> {
    try {
      return await this.#pool.connect();
    } catch (error) {
      throw this.#wrap(error);
    }
  }

  #wrap(error: unknown): unknown {
    if (error instanceof AutomnaError) return error;
    const code = pgCode(error);
    if (code === "23505") return new ConflictError(`conflicting write: ${(error as Error).message}`);
    if (code && /^(ECONN|ENOTFOUND|ETIMEDOUT|EHOSTUNREACH|57P)/.test(code)) {
      return new AutomnaError(`cannot reach PostgreSQL at ${this.location}: ${(error as Error).message}`, { code: "state_unreachable", cause: error });
    }
    return error;
  }

  /** Runs fn in a transaction; deadlocks and serialisation failures are retried. */
  async #tx<T>(fn: (tx: Tx) => Promise<T>): Promise<T> {
    for (let attempt = 1; ; attempt++) {
      const client = await this.#connect();
      let broken = false;
      try {
        await client.query("BEGIN");
        const tx = new Tx(client, this.#now(), this.#stamp);
        const result = await runClaimed((sql, params) => tx.run(sql, params), this.#stamp?.idempotency, tx.now, () => fn(tx));
        await client.query("COMMIT");
        return result;
      } catch (error) {
        await client.query("ROLLBACK").catch(() => (broken = true));
        if (RETRYABLE.has(pgCode(error) ?? "") && attempt < 5) continue;
        throw this.#wrap(error);
      } finally {
        client.release(broken);
      }
    }
  }

  async #read(sql: string, params: unknown[] = []): Promise<PgRow[]> {
    try {
      return (await this.#pool.query<PgRow>(sql, params)).rows;
    } catch (error) {
      throw this.#wrap(error);
    }
  }

  // ---- instances

  async getInstance(user: string, role: InstanceRole = "live"): Promise<Instance | undefined> {
    const [row] = await this.#read("SELECT * FROM instances WHERE user_id = $1 AND role = $2 ORDER BY created_at DESC LIMIT 1", [user, role]);
    return row && pgInstance(row);
  }

  async getInstanceById(id: string): Promise<Instance | undefined> {
    const [row] = await this.#read("SELECT * FROM instances WHERE id = $1", [id]);
    return row && pgInstance(row);
  }

  async listInstances(filter: InstanceFilter = {}): Promise<Instance[]> {
    const where = new Where(/* numbered */ true).add("user_id = ?", filter.user).add("provider = ?", filter.provider).add("region = ?", filter.region)
      .add("status = ?", filter.status).add("role = ?", filter.role).add("user_id = ANY(?::text[])", filter.users);
    return (await this.#read(`SELECT * FROM instances${where} ORDER BY user_id, created_at`, where.params)).map(pgInstance);
  }

  async createInstance(input: NewInstance, options: WriteOptions = {}): Promise<Instance> {
    return this.#tx(async (tx) => {
      const i: Instance = { ...input, id: input.id ?? newId("ins", tx.now), createdAt: input.createdAt ?? tx.iso, updatedAt: tx.iso, version: 1 };
      await tx.checkLease(i.user, options.lease);
      if (i.role !== "retired") {
        const clash = await tx.get("SELECT provider FROM instances WHERE user_id = $1 AND role = $2", [i.user, i.role]);
        if (clash) throw new ConflictError(`${i.user} already has a ${i.role} instance on ${String(clash.provider)}`);
      }
      await tx.run(
        `INSERT INTO instances (id, user_id, role, provider, region, size, image, resources, addresses, status, op_id, meta, created_at, updated_at, version)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15)`,
        [i.id, i.user, i.role, i.provider, i.region, i.size, i.image, i.resources, i.addresses, i.status, i.opId, i.meta, i.createdAt, i.updatedAt, i.version],
      );
      await tx.audit("instance.create", i.user, { id: i.id, role: i.role, provider: i.provider });
      return i;
    });
  }

  async updateInstance(id: string, patch: InstancePatch, options: UpdateOptions = {}): Promise<Instance> {
    return this.#tx(async (tx) => {
      const row = await tx.get("SELECT * FROM instances WHERE id = $1 FOR UPDATE", [id]);
      if (!row) throw new NotFoundError(`instance ${id} not found`);
      const current = pgInstance(row);
      await tx.checkLease(current.user, options.lease);
      assertVersion(`instance of ${current.user}`, current.version, options.expectedVersion);
      const n: Instance = { ...current, ...patch, updatedAt: tx.iso, version: current.version + 1 };
      if (patch.role && patch.role !== current.role && patch.role !== "retired") {
        const clash = await tx.get("SELECT id FROM instances WHERE user_id = $1 AND role = $2 AND id <> $3", [n.user, patch.role, id]);
        if (clash) throw new ConflictError(`${n.user} already has a ${patch.role} instance`);
      }
      await tx.run(
        `UPDATE instances SET role = $1, region = $2, size = $3, image = $4, resources = $5, addresses = $6, status = $7, op_id = $8, meta = $9,
         updated_at = $10, version = $11 WHERE id = $12 AND version = $13`,
        [n.role, n.region, n.size, n.image, n.resources, n.addresses, n.status, n.opId, n.meta, n.updatedAt, n.version, id, current.version],
      );
      await tx.audit("instance.update", n.user, { id, version: n.version, fields: Object.keys(patch) });
      return n;
    });
  }

  async deleteInstance(id: string, options: UpdateOptions = {}): Promise<void> {
    await this.#tx(async (tx) => {
      const row = await tx.get("SELECT * FROM instances WHERE id = $1 FOR UPDATE", [id]);
      if (!row) return;
      const current = pgInstance(row);
      await tx.checkLease(current.user, options.lease);
      assertVersion(`instance of ${current.user}`, current.version, options.expectedVersion);
      await tx.run("DELETE FROM instances WHERE id = $1", [id]);
      await tx.audit("instance.delete", current.user, { id, version: current.version });
    });
  }

  // ---- usage

  async openUsage(input: NewUsageInterval, options: WriteOptions = {}): Promise<UsageInterval> {
    return this.#tx(async (tx) => {
      const u: UsageInterval = { ...input, id: newId("use", tx.now), end: input.end ?? null };
      await tx.checkLease(u.user, options.lease);
      await tx.run(
        `INSERT INTO usage (id, user_id, instance_id, provider, size, region, kind, quantity, hourly_price, monthly_price, currency, start_at, end_at)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13)`,
        [u.id, u.user, u.instanceId, u.provider, u.size, u.region, u.kind, u.quantity, u.hourlyPrice, u.monthlyPrice, u.currency, u.start, u.end],
      );
      await tx.audit("usage.open", u.user, { id: u.id, instanceId: u.instanceId, kind: u.kind });
      return u;
    });
  }

  async closeUsage(instanceId: string, end: string, options: WriteOptions = {}): Promise<UsageInterval[]> {
    return this.#tx(async (tx) => {
      const open = (await tx.all("SELECT * FROM usage WHERE instance_id = $1 AND end_at IS NULL ORDER BY start_at FOR UPDATE", [instanceId])).map(pgUsage);
      if (open.length === 0) return [];
      await tx.checkLease(open[0]!.user, options.lease);
      // An interval never ends before it starts, even if a clock went backwards.
      await tx.run("UPDATE usage SET end_at = GREATEST(start_at, $1::timestamptz) WHERE instance_id = $2 AND end_at IS NULL", [end, instanceId]);
      await tx.audit("usage.close", open[0]!.user, { instanceId, end, ids: open.map((u) => u.id) });
      return open.map((u) => ({ ...u, end: u.start > end ? u.start : end }));
    });
  }

  async listUsage(filter: UsageFilter = {}): Promise<UsageInterval[]> {
    const where = new Where(/* numbered */ true).add("user_id = ?", filter.user).add("provider = ?", filter.provider).add("instance_id = ?", filter.instanceId)
      .add("start_at < ?", filter.to).add("(end_at IS NULL OR end_at > ?)", filter.from).raw("end_at IS NULL", filter.openOnly);
    return (await this.#read(`SELECT * FROM usage${where} ORDER BY user_id, start_at`, where.params)).map(pgUsage);
  }

  // ---- operations

  async createOperation(input: NewOperation, options: WriteOptions = {}): Promise<Operation> {
    return this.#tx(async (tx) => {
      const op: Operation = {
        id: input.id ?? newId("op", tx.now), kind: input.kind, user: input.user, status: input.status ?? "running", step: input.step ?? null,
        params: input.params ?? {}, data: input.data ?? {}, error: null, createdAt: tx.iso, updatedAt: tx.iso, version: 1,
      };
      await tx.checkLease(op.user, options.lease);
      const inserted = await tx.run(
        `INSERT INTO operations (id, kind, user_id, status, step, params, data, error, created_at, updated_at, version)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11) ON CONFLICT (id) DO NOTHING`,
        [op.id, op.kind, op.user, op.status, op.step, op.params, op.data, op.error, op.createdAt, op.updatedAt, op.version],
      );
      if (!inserted) throw new ConflictError(`operation ${op.id} already exists`);
      await tx.audit("operation.create", op.user, { id: op.id, kind: op.kind });
      return op;
    });
  }

  async getOperation(id: string): Promise<Operation | undefined> {
    const [row] = await this.#read("SELECT * FROM operations WHERE id = $1", [id]);
    return row && pgOperation(row);
  }

  async listOperations(filter: OperationFilter = {}): Promise<Operation[]> {
    const where = new Where(/* numbered */ true).add("user_id = ?", filter.user).add("kind = ?", filter.kind).add("status = ?", filter.status)
      .raw("status IN ('running', 'rolling_back')", filter.active);
    return (await this.#read(`SELECT * FROM operations${where} ORDER BY id DESC${limitClause(filter.limit)}`, where.params)).map(pgOperation);
  }

  async updateOperation(id: string, patch: OperationPatch, options: UpdateOptions = {}): Promise<Operation> {
    return this.#tx(async (tx) => {
      const row = await tx.get("SELECT * FROM operations WHERE id = $1 FOR UPDATE", [id]);
      if (!row) throw new NotFoundError(`operation ${id} not found`);
      const current = pgOperation(row);
      await tx.checkLease(current.user, options.lease);
      assertVersion(`operation ${id}`, current.version, options.expectedVersion);
      const n: Operation = { ...current, ...patch, updatedAt: tx.iso, version: current.version + 1 };
      await tx.run("UPDATE operations SET status = $1, step = $2, params = $3, data = $4, error = $5, updated_at = $6, version = $7 WHERE id = $8",
        [n.status, n.step, n.params, n.data, n.error, n.updatedAt, n.version, id]);
      await tx.audit("operation.update", n.user, { id, version: n.version, fields: Object.keys(patch) });
      return n;
    });
  }

  async appendJournal(opId: string, entry: NewJournalEntry, options: WriteOptions = {}): Promise<JournalEntry> {
    return this.#tx(async (tx) => {
      // The operation's row lock orders concurrent appends, so sequence numbers never collide.
      const op = await tx.get("SELECT user_id FROM operations WHERE id = $1 FOR UPDATE", [opId]);
      if (!op) throw new NotFoundError(`operation ${opId} not found`);
      const user = String(op.user_id);
      await tx.checkLease(user, options.lease);
      const last = await tx.get("SELECT COALESCE(MAX(seq), 0) AS seq FROM journal WHERE op_id = $1", [opId]);
      const j: JournalEntry = { opId, seq: Number(last?.seq ?? 0) + 1, step: entry.step, phase: entry.phase, data: entry.data ?? {}, at: tx.iso };
      await tx.run("INSERT INTO journal (op_id, seq, step, phase, data, at) VALUES ($1, $2, $3, $4, $5, $6)", [opId, j.seq, j.step, j.phase, j.data, j.at]);
      await tx.audit("journal.append", user, { opId, seq: j.seq, step: j.step, phase: j.phase });
      return j;
    });
  }

  async listJournal(opId: string): Promise<JournalEntry[]> {
    return (await this.#read("SELECT * FROM journal WHERE op_id = $1 ORDER BY seq", [opId])).map(pgJournal);
  }

  // ---- leases

  async acquireLease(user: string, holder: LeaseHolder, ttlMs: number): Promise<Lease> {
    return this.#tx(async (tx) => {
      await tx.lockUser(user, true);
      const row = await tx.get("SELECT * FROM leases WHERE user_id = $1", [user]);
      if (row && row.lease_id !== null && pgLease(row).expiresAt > tx.iso) throw lockedBy(user, pgLease(row));
      const lease: Lease = {
        user, leaseId: newId("lease", tx.now), holder, acquiredAt: tx.iso, heartbeatAt: tx.iso,
        expiresAt: new Date(tx.now.getTime() + ttlMs).toISOString(), fence: Number(row?.fence ?? 0) + 1,
      };
      await tx.run(
        `INSERT INTO leases (user_id, lease_id, holder, acquired_at, heartbeat_at, expires_at, fence) VALUES ($1, $2, $3, $4, $5, $6, $7)
         ON CONFLICT (user_id) DO UPDATE SET lease_id = excluded.lease_id, holder = excluded.holder, acquired_at = excluded.acquired_at,
         heartbeat_at = excluded.heartbeat_at, expires_at = excluded.expires_at, fence = excluded.fence`,
        [user, lease.leaseId, holder, lease.acquiredAt, lease.heartbeatAt, lease.expiresAt, lease.fence],
      );
      await tx.audit("lease.acquire", user, { leaseId: lease.leaseId, operation: holder.operation, holder: holder.who, ttlMs, fence: lease.fence });
      return lease;
    });
  }

  async renewLease(ref: LeaseRef, ttlMs: number): Promise<Lease> {
    return this.#tx(async (tx) => {
      await tx.lockUser(ref.user, true);
      assertLeaseAllows(ref.user, ref, await tx.liveLease(ref.user));
      const expiresAt = new Date(tx.now.getTime() + ttlMs).toISOString();
      const row = await tx.get("UPDATE leases SET heartbeat_at = $1, expires_at = $2 WHERE user_id = $3 AND lease_id = $4 RETURNING *", [tx.iso, expiresAt, ref.user, ref.leaseId]);
      await tx.audit("lease.renew", ref.user, { leaseId: ref.leaseId, expiresAt });
      return pgLease(row!);
    });
  }

  async releaseLease(ref: LeaseRef): Promise<void> {
    await this.#tx(async (tx) => {
      await tx.lockUser(ref.user, true);
      // Releasing a lease that was already lost is not an error: there is nothing left to free.
      const changed = await tx.run("UPDATE leases SET lease_id = NULL, holder = NULL, expires_at = NULL WHERE user_id = $1 AND lease_id = $2", [ref.user, ref.leaseId]);
      if (changed) await tx.audit("lease.release", ref.user, { leaseId: ref.leaseId });
    });
  }

  async getLease(user: string): Promise<Lease | undefined> {
    const [row] = await this.#read("SELECT * FROM leases WHERE user_id = $1 AND lease_id IS NOT NULL AND expires_at > $2", [user, this.#now().toISOString()]);
    return row && pgLease(row);
  }

  async listLeases(): Promise<Lease[]> {
    return (await this.#read("SELECT * FROM leases WHERE lease_id IS NOT NULL AND expires_at > $1 ORDER BY user_id", [this.#now().toISOString()])).map(pgLease);
  }

  async breakLease(user: string, leaseId: string): Promise<Lease> {
    return this.#tx(async (tx) => {
      await tx.lockUser(user, true);
      const row = await tx.get("SELECT * FROM leases WHERE user_id = $1 AND lease_id = $2", [user, leaseId]);
      if (!row) throw new NotFoundError(`no lease ${leaseId} on ${user}`, { hint: "automna lock list shows live leases" });
      const lease = pgLease(row);
      await tx.run("UPDATE leases SET lease_id = NULL, holder = NULL, expires_at = NULL WHERE user_id = $1", [user]);
      await tx.audit("lease.break", user, { leaseId, holder: lease.holder.who, operation: lease.holder.operation });
      return lease;
    });
  }

  // ---- audit

  async appendAudit(entry: NewAuditEntry): Promise<AuditEntry> {
    return this.#tx(async (tx) => {
      const row = await tx.get("INSERT INTO audit (at, who, action, target, request_id, details) VALUES ($1, $2, $3, $4, $5, $6) RETURNING *",
        [tx.iso, entry.who, entry.action, entry.target, entry.requestId ?? null, entry.details ?? {}]);
      return pgAudit(row!);
    });
  }

  async listAudit(filter: AuditFilter = {}): Promise<AuditEntry[]> {
    const where = new Where(/* numbered */ true).add("who = ?", filter.who).add("action = ?", filter.action).add("target = ?", filter.target)
      .add("at >= ?", filter.since).add("at < ?", filter.until);
    return (await this.#read(`SELECT * FROM audit${where} ORDER BY id${filter.order === "desc" ? " DESC" : ""}${limitClause(filter.limit)}`, where.params)).map(pgAudit);
  }

  async ping(): Promise<void> {
    await this.#read("SELECT 1 AS ok");
  }

  // ---- idempotency records (written by #tx on keyed views; see idempotency.ts)

  async getIdempotency(operator: string, key: string, notBefore: string): Promise<IdempotencyRecord | undefined> {
    const [row] = await this.#read(idempotencySql("postgres", "find"), [operator, key, notBefore]);
    return row && toRecord(row);
  }

  async purgeIdempotency(before: string): Promise<number> {
    return this.#tx((tx) => tx.run(idempotencySql("postgres", "purge"), [before]));
  }

  // ---- tokens (server administration)

  async insertToken(r: TokenRecord): Promise<void> {
    await this.#tx(async (tx) => {
      await tx.run("INSERT INTO tokens (id, operator, scope, hash, created_at, created_by) VALUES ($1, $2, $3, $4, $5, $6)",
        [r.id, r.operator, r.scope, r.hash, r.createdAt, r.createdBy]);
      await tx.audit("token.create", r.operator, { id: r.id, scope: r.scope });
    });
  }

  async getToken(id: string): Promise<TokenRecord | undefined> {
    const [row] = await this.#read("SELECT * FROM tokens WHERE id = $1", [id]);
    return row && pgToken(row);
  }

  async listTokens(): Promise<TokenInfo[]> {
    return (await this.#read("SELECT * FROM tokens ORDER BY id")).map((r) => toTokenInfo(pgToken(r)));
  }

  async revokeToken(id: string): Promise<TokenInfo> {
    return this.#tx(async (tx) => {
      const row = await tx.get("SELECT * FROM tokens WHERE id = $1 FOR UPDATE", [id]);
      if (!row) throw new NotFoundError(`no token ${id}`, { hint: "automna state token list shows the tokens" });
      const token = pgToken(row);
      if (token.revokedAt) return toTokenInfo(token);
      await tx.run("UPDATE tokens SET revoked_at = $1 WHERE id = $2", [tx.iso, id]);
      await tx.audit("token.revoke", token.operator, { id });
      return toTokenInfo({ ...token, revokedAt: tx.iso });
    });
  }

  async touchToken(id: string, at: string, staleBefore: string): Promise<void> {
    await this.#read("UPDATE tokens SET last_used_at = $1 WHERE id = $2 AND (last_used_at IS NULL OR last_used_at < $3)", [at, id, staleBefore]);
  }

  /** Ends the pool; a no-op on audited views (they share it). */
  async close(): Promise<void> {
    if (this.#stamp) return;
    await this.#pool.end();
  }
}
