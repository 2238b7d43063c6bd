import type { Cell } from "./sql-steps.js";
import type { TokenRecord, TokenScope } from "./tokens.js";
import type { AuditEntry, Instance, InstanceRole, JournalEntry, Lease, LeaseHolder, Operation, UsageInterval, UserLabels } from "./types.js";

/**
 * Every table's columns in the order its decoder reads them, and the decoders, for both stores.
 * Rows are arrays, not keyed objects: node:sqlite builds 10,000 keyed objects much slower than
 * arrays, and `list` or a cost report reads a whole fleet. Cells are what either driver returns:
 * SQLite gives JSON as text and times as the ISO strings written; PostgreSQL gives parsed jsonb and
 * Dates for timestamptz.
 */

const str = (v: Cell): string => String(v);
const strOrNull = (v: Cell): string | null => (v === null || v === undefined ? null : String(v));
const iso = (v: Cell): string => (v instanceof Date ? v.toISOString() : String(v));
const isoOrNull = (v: Cell): string | null => (v === null || v === undefined ? null : iso(v));
const obj = <T>(v: Cell): T => (typeof v === "string" ? JSON.parse(v) : (v ?? {})) as T;

export const INSTANCE_COLUMNS = "id, {user}, role, provider, region, size, image, resources, addresses, status, op_id, meta, created_at, updated_at, version";

export function toInstance(r: Cell[]): Instance {
  return {
    id: str(r[0]), user: str(r[1]), role: str(r[2]) as InstanceRole, provider: str(r[3]), region: str(r[4]), size: str(r[5]),
    image: str(r[6]), resources: obj(r[7]), addresses: obj(r[8]), status: str(r[9]) as Instance["status"], opId: strOrNull(r[10]),
    meta: obj(r[11]), createdAt: iso(r[12]), updatedAt: iso(r[13]), version: Number(r[14]),
  };
}

export const USAGE_COLUMNS = "id, {user}, instance_id, provider, size, region, kind, quantity, hourly_price, monthly_price, currency, {start}, {end}";

export function toUsage(r: Cell[]): UsageInterval {
  return {
    id: str(r[0]), user: str(r[1]), instanceId: strOrNull(r[2]), provider: str(r[3]), size: str(r[4]), region: str(r[5]),
    kind: str(r[6]) as UsageInterval["kind"], quantity: Number(r[7]), hourlyPrice: Number(r[8]),
    monthlyPrice: r[9] === null || r[9] === undefined ? null : Number(r[9]), currency: str(r[10]), start: iso(r[11]), end: isoOrNull(r[12]),
  };
}

export const OPERATION_COLUMNS = "id, kind, {user}, status, step, params, data, error, created_at, updated_at, version";

export function toOperation(r: Cell[]): Operation {
  return {
    id: str(r[0]), kind: str(r[1]), user: str(r[2]), status: str(r[3]) as Operation["status"], step: strOrNull(r[4]),
    params: obj(r[5]), data: obj(r[6]), error: strOrNull(r[7]), createdAt: iso(r[8]), updatedAt: iso(r[9]), version: Number(r[10]),
  };
}

export const JOURNAL_COLUMNS = "op_id, seq, step, phase, data, at";

export function toJournal(r: Cell[]): JournalEntry {
  return { opId: str(r[0]), seq: Number(r[1]), step: str(r[2]), phase: str(r[3]) as JournalEntry["phase"], data: obj(r[4]), at: iso(r[5]) };
}

export const LEASE_COLUMNS = "{user}, lease_id, holder, acquired_at, heartbeat_at, expires_at, fence";

export function toLease(r: Cell[]): Lease {
  return {
    user: str(r[0]), leaseId: str(r[1]), holder: obj<LeaseHolder>(r[2]), acquiredAt: iso(r[3]), heartbeatAt: iso(r[4]), expiresAt: iso(r[5]),
    fence: Number(r[6]),
  };
}

export const AUDIT_COLUMNS = "id, at, who, action, target, request_id, details";

export function toAudit(r: Cell[]): AuditEntry {
  return { id: Number(r[0]), at: iso(r[1]), who: str(r[2]), action: str(r[3]), target: str(r[4]), requestId: strOrNull(r[5]), details: obj(r[6]) };
}

export const TOKEN_COLUMNS = "id, operator, scope, hash, created_at, created_by, last_used_at, revoked_at";

export function toToken(r: Cell[]): TokenRecord {
  return {
    id: str(r[0]), operator: str(r[1]), scope: str(r[2]) as TokenScope, hash: str(r[3]), createdAt: iso(r[4]), createdBy: strOrNull(r[5]),
    lastUsedAt: isoOrNull(r[6]), revokedAt: isoOrNull(r[7]),
  };
}

export const LABEL_COLUMNS = "{user}, labels, updated_at";

export function toUserLabels(r: Cell[]): UserLabels {
  return { user: str(r[0]), labels: obj(r[1]), updatedAt: iso(r[2]) };
}

/** A single number (a count, a MAX, `SELECT 1`). */
export const toNumber = (r: Cell[]): number => Number(r[0]);
export const toText = (r: Cell[]): string => String(r[0]);
