import { ConflictError, NotFoundError } from "../lib/errors.js";
import { newId } from "../lib/ids.js";
import {
  AUDIT_COLUMNS, INSTANCE_COLUMNS, JOURNAL_COLUMNS, LABEL_COLUMNS, LEASE_COLUMNS, OPERATION_COLUMNS, TOKEN_COLUMNS, USAGE_COLUMNS,
  toAudit, toInstance, toLease, toNumber, toOperation, toText, toToken, toUsage, toUserLabels,
} from "./rows.js";
import { assertLeaseAllows, assertVersion, type AuditAction, type AuditStamp } from "./rules.js";
import { first, all, lockUser, run, type Steps } from "./sql-steps.js";
import { toTokenInfo, type TokenInfo, type TokenRecord } from "./tokens.js";
import type {
  AuditEntry, Instance, InstancePatch, InstanceRole, JournalEntry, LabelChange, Labels, Lease, LeaseRef, NewAuditEntry, NewInstance, NewJournalEntry,
  NewOperation, NewUsageInterval, Operation, OperationPatch, UpdateOptions, UsageInterval, UserLabels, WriteOptions,
} from "./types.js";

/**
 * The store's writes and the rules they obey, once for SQLite and PostgreSQL (sql-store.ts runs
 * them in a transaction): fencing (a write under a lease must present the live one; nobody else
 * writes a leased user), versions (a stale expectedVersion is refused), roles (one live and one
 * target instance per user), and an audit row in the same transaction on an audited store.
 */

/** One write's context: the transaction's clock and, on an audited store, who writes. */
export interface Write {
  now: Date;
  stamp: AuditStamp | undefined;
}

/** `?, ?, ?` for n values (made once: writes are hot). */
const MARKS = Array.from({ length: 16 }, (_, n) => Array.from({ length: n }, () => "?").join(", "));
export const marks = (n: number): string => MARKS[n]!;
export const LEASES = `SELECT ${LEASE_COLUMNS} FROM leases`;

export function* audit(w: Write, action: AuditAction, target: string, details: Record<string, unknown>): Steps<void> {
  if (!w.stamp) return;
  yield* run("INSERT INTO audit (at, who, action, target, request_id, details) VALUES (?, ?, ?, ?, ?, ?)",
    [w.now.toISOString(), w.stamp.who, action, target, w.stamp.requestId, details]);
}

export function liveLease(user: string, now: Date): Steps<Lease | undefined> {
  return first(`${LEASES} WHERE {user} = ? AND lease_id IS NOT NULL AND expires_at > ?`, [user, now.toISOString()], toLease);
}

/** Fencing, under the user's shared lock: a lease cannot be broken or taken between this check and the commit. */
function* checkLease(w: Write, user: string, presented: LeaseRef | undefined): Steps<void> {
  yield* lockUser(user, false);
  const live = yield* liveLease(user, w.now);
  assertLeaseAllows(user, presented, live);
}

/** One live and one target instance per user; retired ones are not limited. */
function* assertRoleFree(user: string, role: InstanceRole, exceptId: string): Steps<void> {
  if (role === "retired") return;
  const clash = yield* first("SELECT provider FROM instances WHERE {user} = ? AND role = ? AND id <> ?", [user, role, exceptId], toText);
  if (clash !== undefined) throw new ConflictError(`${user} already has a ${role} instance on ${clash}`);
}

// ---- instances

export function* createInstance(w: Write, input: NewInstance, options: WriteOptions): Steps<Instance> {
  const at = w.now.toISOString();
  const i: Instance = { ...input, id: input.id ?? newId("ins", w.now), createdAt: input.createdAt ?? at, updatedAt: at, version: 1 };
  yield* checkLease(w, i.user, options.lease);
  yield* assertRoleFree(i.user, i.role, i.id);
  yield* run(`INSERT INTO instances (${INSTANCE_COLUMNS}) VALUES (${marks(15)})`, [
    i.id, i.user, i.role, i.provider, i.region, i.size, i.image, i.resources, i.addresses, i.status, i.opId, i.meta, i.createdAt, i.updatedAt, i.version,
  ]);
  yield* audit(w, "instance.create", i.user, { id: i.id, role: i.role, provider: i.provider });
  return i;
}

function* instanceToChange(w: Write, id: string, options: UpdateOptions): Steps<Instance | undefined> {
  const current = yield* first(`SELECT ${INSTANCE_COLUMNS} FROM instances WHERE id = ? FOR UPDATE`, [id], toInstance);
  if (!current) return undefined;
  yield* checkLease(w, current.user, options.lease);
  assertVersion(`instance of ${current.user}`, current.version, options.expectedVersion);
  return current;
}

export function* updateInstance(w: Write, id: string, patch: InstancePatch, options: UpdateOptions): Steps<Instance> {
  const current = yield* instanceToChange(w, id, options);
  if (!current) throw new NotFoundError(`instance ${id} not found`);
  const n: Instance = { ...current, ...patch, updatedAt: w.now.toISOString(), version: current.version + 1 };
  if (n.role !== current.role) yield* assertRoleFree(n.user, n.role, id);
  yield* run(`UPDATE instances SET role = ?, region = ?, size = ?, image = ?, resources = ?, addresses = ?, status = ?, op_id = ?, meta = ?,
     updated_at = ?, version = ? WHERE id = ? AND version = ?`,
  [n.role, n.region, n.size, n.image, n.resources, n.addresses, n.status, n.opId, n.meta, n.updatedAt, n.version, id, current.version]);
  yield* audit(w, "instance.update", n.user, { id, version: n.version, fields: Object.keys(patch) });
  return n;
}

export function* deleteInstance(w: Write, id: string, options: UpdateOptions): Steps<void> {
  const current = yield* instanceToChange(w, id, options);
  if (!current) return;
  yield* run("DELETE FROM instances WHERE id = ?", [id]);
  yield* audit(w, "instance.delete", current.user, { id, version: current.version });
}

// ---- labels

/**
 * Labels are the user's metadata, not an operation's: no lease fences them, so a cohort can be
 * relabelled while its migration runs. The row is locked so two relabels merge, not overwrite.
 */
export function* updateLabels(w: Write, user: string, change: LabelChange): Steps<UserLabels> {
  const current = yield* first(`SELECT ${LABEL_COLUMNS} FROM labels WHERE {user} = ? FOR UPDATE`, [user], toUserLabels);
  const labels: Labels = { ...current?.labels, ...change.set };
  for (const key of change.remove ?? []) delete labels[key];
  const after: UserLabels = { user, labels, updatedAt: w.now.toISOString() };
  if (Object.keys(labels).length === 0) yield* run("DELETE FROM labels WHERE {user} = ?", [user]);
  else {
    yield* run(`INSERT INTO labels (${LABEL_COLUMNS}) VALUES (${marks(3)}) ON CONFLICT ({user}) DO UPDATE SET labels = excluded.labels, updated_at = excluded.updated_at`,
      [user, labels, after.updatedAt]);
  }
  yield* audit(w, "labels.update", user, { set: change.set ?? {}, remove: change.remove ?? [] });
  return after;
}

// ---- usage

export function* openUsage(w: Write, input: NewUsageInterval, options: WriteOptions): Steps<UsageInterval> {
  const u: UsageInterval = { ...input, id: newId("use", w.now), end: input.end ?? null };
  yield* checkLease(w, u.user, options.lease);
  yield* run(`INSERT INTO usage (${USAGE_COLUMNS}) VALUES (${marks(13)})`, [
    u.id, u.user, u.instanceId, u.provider, u.size, u.region, u.kind, u.quantity, u.hourlyPrice, u.monthlyPrice, u.currency, u.start, u.end,
  ]);
  yield* audit(w, "usage.open", u.user, { id: u.id, instanceId: u.instanceId, kind: u.kind });
  return u;
}

export function* closeUsage(w: Write, instanceId: string, end: string, options: WriteOptions): Steps<UsageInterval[]> {
  const open = yield* all(`SELECT ${USAGE_COLUMNS} FROM usage WHERE instance_id = ? AND {end} IS NULL ORDER BY {start} FOR UPDATE`, [instanceId], toUsage);
  if (open.length === 0) return [];
  const user = open[0]!.user;
  yield* checkLease(w, user, options.lease);
  // An interval never ends before it starts, even if a clock went backwards.
  yield* run("UPDATE usage SET {end} = CASE WHEN {start} > ? THEN {start} ELSE ? END WHERE instance_id = ? AND {end} IS NULL", [end, end, instanceId]);
  yield* audit(w, "usage.close", user, { instanceId, end, ids: open.map((u) => u.id) });
  return open.map((u) => ({ ...u, end: u.start > end ? u.start : end }));
}

// ---- operations and their journals

export function* createOperation(w: Write, input: NewOperation, options: WriteOptions): Steps<Operation> {
  const at = w.now.toISOString();
  const op: Operation = {
    id: input.id ?? newId("op", w.now), kind: input.kind, user: input.user, status: input.status ?? "running", step: input.step ?? null,
    params: input.params ?? {}, data: input.data ?? {}, error: null, createdAt: at, updatedAt: at, version: 1,
  };
  yield* checkLease(w, op.user, options.lease);
  const inserted = yield* run(`INSERT INTO operations (${OPERATION_COLUMNS}) VALUES (${marks(11)}) ON CONFLICT (id) DO NOTHING`, [
    op.id, op.kind, op.user, op.status, op.step, op.params, op.data, op.error, op.createdAt, op.updatedAt, op.version,
  ]);
  if (!inserted) throw new ConflictError(`operation ${op.id} already exists`);
  yield* audit(w, "operation.create", op.user, { id: op.id, kind: op.kind });
  return op;
}

export function* updateOperation(w: Write, id: string, patch: OperationPatch, options: UpdateOptions): Steps<Operation> {
  const current = yield* first(`SELECT ${OPERATION_COLUMNS} FROM operations WHERE id = ? FOR UPDATE`, [id], toOperation);
  if (!current) throw new NotFoundError(`operation ${id} not found`);
  yield* checkLease(w, current.user, options.lease);
  assertVersion(`operation ${id}`, current.version, options.expectedVersion);
  const n: Operation = { ...current, ...patch, updatedAt: w.now.toISOString(), version: current.version + 1 };
  yield* run("UPDATE operations SET status = ?, step = ?, params = ?, data = ?, error = ?, updated_at = ?, version = ? WHERE id = ?",
    [n.status, n.step, n.params, n.data, n.error, n.updatedAt, n.version, id]);
  yield* audit(w, "operation.update", n.user, { id, version: n.version, fields: Object.keys(patch) });
  return n;
}

export function* appendJournal(w: Write, opId: string, entry: NewJournalEntry, options: WriteOptions): Steps<JournalEntry> {
  // The operation's row lock orders concurrent appends, so sequence numbers never collide.
  const user = yield* first("SELECT {user} FROM operations WHERE id = ? FOR UPDATE", [opId], toText);
  if (user === undefined) throw new NotFoundError(`operation ${opId} not found`);
  yield* checkLease(w, user, options.lease);
  const last = (yield* first("SELECT COALESCE(MAX(seq), 0) FROM journal WHERE op_id = ?", [opId], toNumber)) ?? 0;
  const j: JournalEntry = { opId, seq: last + 1, step: entry.step, phase: entry.phase, data: entry.data ?? {}, at: w.now.toISOString() };
  yield* run(`INSERT INTO journal (${JOURNAL_COLUMNS}) VALUES (${marks(6)})`, [opId, j.seq, j.step, j.phase, j.data, j.at]);
  yield* audit(w, "journal.append", user, { opId, seq: j.seq, step: j.step, phase: j.phase });
  return j;
}

// ---- the audit log itself (an audited store adds no second row for an explicit entry), and tokens

export function* appendAudit(w: Write, entry: NewAuditEntry): Steps<AuditEntry> {
  const written = yield* first(`INSERT INTO audit (at, who, action, target, request_id, details) VALUES (${marks(6)}) RETURNING ${AUDIT_COLUMNS}`,
    [w.now.toISOString(), entry.who, entry.action, entry.target, entry.requestId ?? null, entry.details ?? {}], toAudit);
  return written!;
}

export function* insertToken(w: Write, r: TokenRecord): Steps<void> {
  yield* run(`INSERT INTO tokens (${TOKEN_COLUMNS}) VALUES (${marks(8)})`, [r.id, r.operator, r.scope, r.hash, r.createdAt, r.createdBy, null, null]);
  yield* audit(w, "token.create", r.operator, { id: r.id, scope: r.scope });
}

export function* revokeToken(w: Write, id: string): Steps<TokenInfo> {
  const token = yield* first(`SELECT ${TOKEN_COLUMNS} FROM tokens WHERE id = ? FOR UPDATE`, [id], toToken);
  if (!token) throw new NotFoundError(`no token ${id}`, { hint: "automna state token list shows the tokens" });
  if (token.revokedAt) return toTokenInfo(token);
  yield* run("UPDATE tokens SET revoked_at = ? WHERE id = ?", [w.now.toISOString(), id]);
  yield* audit(w, "token.revoke", token.operator, { id });
  return toTokenInfo({ ...token, revokedAt: w.now.toISOString() });
}
