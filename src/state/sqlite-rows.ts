import type { SQLInputValue, SQLOutputValue } from "node:sqlite";
import type { TokenRecord, TokenScope } from "./tokens.js";
import type { AuditEntry, Instance, InstanceRole, Lease, LeaseHolder, Operation, UsageInterval } from "./types.js";

/** Row <-> record mapping and small SQL builders for the SQLite store. */
export type Row = Record<string, SQLInputValue>;

export const json = (value: unknown): string => JSON.stringify(value ?? {});
export type Cell = SQLInputValue | undefined;
export const parse = <T>(text: Cell): T => JSON.parse(String(text)) as T;
export const str = (v: Cell): string => String(v);
export const strOrNull = (v: Cell): string | null => (v === null || v === undefined ? null : String(v));

/** The instance columns in the order arrayToInstance reads them. */
const INSTANCE_KEYS = ["id", "user", "role", "provider", "region", "size", "image", "resources", "addresses", "status", "op_id", "meta", "created_at", "updated_at", "version"] as const;
export const INSTANCE_COLUMNS = INSTANCE_KEYS.join(", ");

/** rowToInstance for a row read as an array of INSTANCE_COLUMNS. */
export function arrayToInstance(r: Cell[]): Instance {
  return {
    id: str(r[0]), user: str(r[1]), role: str(r[2]) as InstanceRole, provider: str(r[3]), region: str(r[4]), size: str(r[5]),
    image: str(r[6]), resources: parse(r[7]), addresses: parse(r[8]), status: str(r[9]) as Instance["status"], opId: strOrNull(r[10]),
    meta: parse(r[11]), createdAt: str(r[12]), updatedAt: str(r[13]), version: Number(r[14]),
  };
}

export function rowToInstance(r: Row): Instance {
  return arrayToInstance(INSTANCE_KEYS.map((k) => r[k]));
}

/** Usage columns in the order usageFromArray reads them. */
const USAGE_KEYS = ["id", "user", "instance_id", "provider", "size", "region", "kind", "quantity", "hourly_price", "monthly_price", "currency", "start", "end"] as const;
export const USAGE_COLUMNS = USAGE_KEYS.join(", ");

/**
 * A usage row read as an array (setReturnArrays): cost reports read a whole fleet's history, and
 * arrays cost a third of keyed row objects to materialise.
 */
export function usageFromArray(a: SQLOutputValue[]): UsageInterval {
  return {
    id: str(a[0]), user: str(a[1]), instanceId: strOrNull(a[2]), provider: str(a[3]), size: str(a[4]), region: str(a[5]),
    kind: str(a[6]) as UsageInterval["kind"], quantity: Number(a[7]), hourlyPrice: Number(a[8]),
    monthlyPrice: a[9] === null ? null : Number(a[9]), currency: str(a[10]), start: str(a[11]), end: strOrNull(a[12]),
  };
}

export function rowToUsage(r: Row): UsageInterval {
  return usageFromArray(USAGE_KEYS.map((k) => r[k]) as SQLOutputValue[]);
}

export function rowToOperation(r: Row): Operation {
  return {
    id: str(r.id), kind: str(r.kind), user: str(r.user), status: str(r.status) as Operation["status"], step: strOrNull(r.step),
    params: parse(r.params), data: parse(r.data), error: strOrNull(r.error), createdAt: str(r.created_at),
    updatedAt: str(r.updated_at), version: Number(r.version),
  };
}

export function rowToLease(r: Row): Lease {
  return {
    user: str(r.user), leaseId: str(r.lease_id), holder: parse<LeaseHolder>(r.holder), acquiredAt: str(r.acquired_at),
    heartbeatAt: str(r.heartbeat_at), expiresAt: str(r.expires_at), fence: Number(r.fence),
  };
}

export function rowToAudit(r: Row): AuditEntry {
  return {
    id: Number(r.id), at: str(r.at), who: str(r.who), action: str(r.action), target: str(r.target),
    requestId: strOrNull(r.request_id), details: parse(r.details),
  };
}

export function isBusy(error: unknown): boolean {
  const e = error as { errcode?: number; message?: string };
  return (e.errcode !== undefined && (e.errcode & 0xff) === 5) || /database is locked/i.test(e.message ?? "");
}


export function rowToToken(r: Row): TokenRecord {
  return {
    id: str(r.id), operator: str(r.operator), scope: str(r.scope) as TokenScope, createdAt: str(r.created_at), createdBy: strOrNull(r.created_by),
    lastUsedAt: strOrNull(r.last_used_at), revokedAt: strOrNull(r.revoked_at), hash: str(r.hash),
  };
}
