import { AutomnaError } from "../lib/errors.js";

/**
 * Idempotency records of `automna state serve`: the response a keyed mutation answered, kept so a
 * retry of it (same operator, same key) is answered again instead of applied again. The record is
 * written by the store inside the mutation's own transaction, so "applied" and "recorded" commit
 * or vanish together: a crash between them is impossible, not merely unlikely.
 *
 * The key is claimed first thing in the transaction and the response filled in before COMMIT.
 * Claiming first makes a concurrent twin (another server process on the same PostgreSQL) block on
 * the primary key until the first commits, then find the key taken and replay; on SQLite writers
 * are serialised anyway. Failed mutations roll back their claim: they applied nothing, so a retry
 * may run them again.
 */

/** How long a response is replayed; older records are ignored, then purged lazily. */
export const IDEMPOTENCY_TTL_MS = 24 * 3_600_000;

/** What is replayed: the status and the exact JSON text of the body (null for 204). */
export interface StoredResponse {
  status: number;
  body: string | null;
}

export interface IdempotencyRecord extends StoredResponse {
  /** Hash of method, path, body and the write headers: a key may only be reused for the same request. */
  fingerprint: string;
}

/** Carried by an audited view (AuditStamp): the store claims and records inside the write's transaction. */
export interface IdempotencyClaim {
  /** The token's operator, never the token: records outlive tokens and must not hold secrets. */
  operator: string;
  key: string;
  fingerprint: string;
  /** The response the route answers with, from the store method's result. */
  respond(result: unknown): StoredResponse;
}

/** The server backend's side: reads and purges outside any mutation. */
export interface IdempotencyStore {
  /** The record of a completed request, unless it is older than `notBefore`. */
  getIdempotency(operator: string, key: string, notBefore: string): Promise<IdempotencyRecord | undefined>;
  /** Deletes records older than `before`; returns how many. */
  purgeIdempotency(before: string): Promise<number>;
}

/** A twin request committed the key first: this transaction rolls back and the twin's response is replayed. */
export class IdempotencyKeyTakenError extends AutomnaError {
  constructor(key: string) {
    super(`idempotency key ${key} was taken by a concurrent request`, { code: "idempotency_key_taken" });
  }
}

/** One SQL text per statement, in SQLite's `?` placeholders; PostgreSQL gets them numbered. */
const SQL = {
  dropExpired: "DELETE FROM idempotency WHERE operator = ? AND idem_key = ? AND created_at < ?",
  claim: "INSERT INTO idempotency (operator, idem_key, fingerprint, created_at) VALUES (?, ?, ?, ?) ON CONFLICT DO NOTHING",
  record: "UPDATE idempotency SET status = ?, body = ? WHERE operator = ? AND idem_key = ?",
  find: "SELECT fingerprint, status, body FROM idempotency WHERE operator = ? AND idem_key = ? AND created_at >= ? AND status IS NOT NULL",
  purge: "DELETE FROM idempotency WHERE created_at < ?",
} as const;

type Statement = keyof typeof SQL;

const numbered = (sql: string): string => {
  let n = 0;
  return sql.replace(/\?/g, () => `$${++n}`);
};
const PG_SQL = Object.fromEntries(Object.entries(SQL).map(([k, v]) => [k, numbered(v)])) as Record<Statement, string>;

export function idempotencySql(dialect: "sqlite" | "postgres", statement: Statement): string {
  return dialect === "sqlite" ? SQL[statement] : PG_SQL[statement];
}

export function expiredBefore(now: Date): string {
  return new Date(now.getTime() - IDEMPOTENCY_TTL_MS).toISOString();
}

function claimParams(claim: IdempotencyClaim, now: Date): { drop: string[]; claim: string[] } {
  return { drop: [claim.operator, claim.key, expiredBefore(now)], claim: [claim.operator, claim.key, claim.fingerprint, now.toISOString()] };
}

function recordParams(claim: IdempotencyClaim, result: unknown): (string | number | null)[] {
  const response = claim.respond(result);
  return [response.status, response.body, claim.operator, claim.key];
}

export function toRecord(row: Record<string, unknown>): IdempotencyRecord {
  return { fingerprint: String(row.fingerprint), status: Number(row.status), body: row.body === null || row.body === undefined ? null : String(row.body) };
}

type Params = (string | number | null)[];

/**
 * SQLite: runs `fn` (already inside BEGIN IMMEDIATE) between the claim and the record. Synchronous
 * on purpose: the connection is shared, and an await inside a transaction would let another
 * request's statements into it.
 */
export function runClaimedSync<T>(run: (sql: string, params: Params) => number, claim: IdempotencyClaim | undefined, now: Date, fn: () => T): T {
  if (!claim) return fn();
  const p = claimParams(claim, now);
  run(SQL.dropExpired, p.drop);
  if (run(SQL.claim, p.claim) === 0) throw new IdempotencyKeyTakenError(claim.key);
  const result = fn();
  run(SQL.record, recordParams(claim, result));
  return result;
}

/** PostgreSQL: the same, inside the transaction the store opened on one pooled connection. */
export async function runClaimed<T>(run: (sql: string, params: Params) => Promise<number>, claim: IdempotencyClaim | undefined, now: Date, fn: () => Promise<T>): Promise<T> {
  if (!claim) return fn();
  const p = claimParams(claim, now);
  await run(PG_SQL.dropExpired, p.drop);
  if ((await run(PG_SQL.claim, p.claim)) === 0) throw new IdempotencyKeyTakenError(claim.key);
  const result = await fn();
  await run(PG_SQL.record, recordParams(claim, result));
  return result;
}
