import { AutomnaError } from "../lib/errors.js";
import { first, run, type Cell, type Steps } from "./sql-steps.js";

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

const SQL = {
  dropExpired: "DELETE FROM idempotency WHERE operator = ? AND idem_key = ? AND created_at < ?",
  claim: "INSERT INTO idempotency (operator, idem_key, fingerprint, created_at) VALUES (?, ?, ?, ?) ON CONFLICT DO NOTHING",
  record: "UPDATE idempotency SET status = ?, body = ? WHERE operator = ? AND idem_key = ?",
  find: "SELECT fingerprint, status, body FROM idempotency WHERE operator = ? AND idem_key = ? AND created_at >= ? AND status IS NOT NULL",
  purge: "DELETE FROM idempotency WHERE created_at < ?",
} as const;

export function expiredBefore(now: Date): string {
  return new Date(now.getTime() - IDEMPOTENCY_TTL_MS).toISOString();
}

function toRecord(r: Cell[]): IdempotencyRecord {
  return { fingerprint: String(r[0]), status: Number(r[1]), body: r[2] === null || r[2] === undefined ? null : String(r[2]) };
}

/** The steps of a mutation, between the claim of its key and the record of its response (none without a claim). */
export function* claimed<T>(claim: IdempotencyClaim | undefined, now: Date, steps: Steps<T>): Steps<T> {
  if (!claim) return yield* steps;
  yield* run(SQL.dropExpired, [claim.operator, claim.key, expiredBefore(now)]);
  if ((yield* run(SQL.claim, [claim.operator, claim.key, claim.fingerprint, now.toISOString()])) === 0) throw new IdempotencyKeyTakenError(claim.key);
  const result = yield* steps;
  const response = claim.respond(result);
  yield* run(SQL.record, [response.status, response.body, claim.operator, claim.key]);
  return result;
}

export function findIdempotency(operator: string, key: string, notBefore: string): Steps<IdempotencyRecord | undefined> {
  return first(SQL.find, [operator, key, notBefore], toRecord);
}

export function purgeIdempotency(before: string): Steps<number> {
  return run(SQL.purge, [before]);
}
