import type { TokenRecord, TokenScope } from "./tokens.js";
import type { AuditEntry, Instance, InstanceRole, JournalEntry, Lease, LeaseHolder, Operation, UsageInterval } from "./types.js";

/** Rows of the PostgreSQL store's tables, and the objects they hold. */
export type PgRow = Record<string, unknown>;

const str = (v: unknown): string => String(v);
const strOrNull = (v: unknown): string | null => (v === null || v === undefined ? null : String(v));
/** timestamptz comes back as a Date; our times are ISO strings with milliseconds. */
const iso = (v: unknown): string => (v instanceof Date ? v.toISOString() : new Date(String(v)).toISOString());
const isoOrNull = (v: unknown): string | null => (v === null || v === undefined ? null : iso(v));
const obj = <T>(v: unknown): T => (v ?? {}) as T;

export function pgInstance(r: PgRow): Instance {
  return {
    id: str(r.id), user: str(r.user_id), role: str(r.role) as InstanceRole, provider: str(r.provider), region: str(r.region),
    size: str(r.size), image: str(r.image), resources: obj(r.resources), addresses: obj(r.addresses),
    status: str(r.status) as Instance["status"], opId: strOrNull(r.op_id), meta: obj(r.meta),
    createdAt: iso(r.created_at), updatedAt: iso(r.updated_at), version: Number(r.version),
  };
}

export function pgUsage(r: PgRow): UsageInterval {
  return {
    id: str(r.id), user: str(r.user_id), instanceId: strOrNull(r.instance_id), provider: str(r.provider), size: str(r.size),
    region: str(r.region), kind: str(r.kind) as UsageInterval["kind"], quantity: Number(r.quantity),
    hourlyPrice: Number(r.hourly_price), monthlyPrice: r.monthly_price === null ? null : Number(r.monthly_price),
    currency: str(r.currency), start: iso(r.start_at), end: isoOrNull(r.end_at),
  };
}

export function pgOperation(r: PgRow): Operation {
  return {
    id: str(r.id), kind: str(r.kind), user: str(r.user_id), status: str(r.status) as Operation["status"], step: strOrNull(r.step),
    params: obj(r.params), data: obj(r.data), error: strOrNull(r.error), createdAt: iso(r.created_at),
    updatedAt: iso(r.updated_at), version: Number(r.version),
  };
}

export function pgJournal(r: PgRow): JournalEntry {
  return { opId: str(r.op_id), seq: Number(r.seq), step: str(r.step), phase: str(r.phase) as JournalEntry["phase"], data: obj(r.data), at: iso(r.at) };
}

export function pgLease(r: PgRow): Lease {
  return {
    user: str(r.user_id), leaseId: str(r.lease_id), holder: obj<LeaseHolder>(r.holder), acquiredAt: iso(r.acquired_at),
    heartbeatAt: iso(r.heartbeat_at), expiresAt: iso(r.expires_at), fence: Number(r.fence),
  };
}

export function pgAudit(r: PgRow): AuditEntry {
  return {
    id: Number(r.id), at: iso(r.at), who: str(r.who), action: str(r.action), target: str(r.target),
    requestId: strOrNull(r.request_id), details: obj(r.details),
  };
}

export function pgToken(r: PgRow): TokenRecord {
  return {
    id: str(r.id), operator: str(r.operator), scope: str(r.scope) as TokenScope, createdAt: iso(r.created_at), createdBy: strOrNull(r.created_by),
    lastUsedAt: isoOrNull(r.last_used_at), revokedAt: isoOrNull(r.revoked_at), hash: str(r.hash),
  };
}
