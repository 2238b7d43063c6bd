import type { LockHolder } from "../lib/errors.js";
import type { LeaseRef } from "./types.js";
import { USER_ID_RE } from "../lib/validate.js";

/**
 * What the state server and its client agree on beyond JSON bodies: headers and the error
 * document. Kept in one place so the two cannot drift.
 *
 * - `Authorization: Bearer <token>`; 401 without a valid one, 403 when its scope is too small.
 * - `Automna-Lease: <user>:<leaseId>` on every write made under a lease (fencing).
 * - `If-Match: "<version>"` for optimistic concurrency; a stale one answers 412.
 * - `X-Request-Id`: sent by the client, echoed by the server, written to the audit log.
 * - Errors: `{"error":{"code","message","hint"?,"holder"?,"requestId"?}}`; 423 carries the
 *   holder of the lease (who, operation, since, leaseId, expiresAt), as the Terraform HTTP
 *   backend's lock protocol does with its lock info.
 * - 503 means the request was not applied (shutting down, database busy) and may be retried,
 *   whatever its method.
 * - `Idempotency-Key: <1-255 visible ASCII characters>` on a mutation: the server records its
 *   response (per operator and key, 24 h) in the mutation's transaction; a repeat of the same
 *   request is answered from the record with `Idempotent-Replayed: true`, a different request
 *   with the same key gets 422 `idempotency_key_reused`. The client sends one per logical call,
 *   so a mutation whose response was lost can be retried without being applied twice.
 * - Lists of operations are pages, newest first: `limit` at most OPERATIONS_PAGE_MAX (also the
 *   page size when no limit is given), `before=<id>` for the page after the one ending with that
 *   id; a page shorter than asked for is the last.
 * - Every error, the server's own and the HTTP framework's (a 414 for an over-long URL, a 400 for
 *   malformed or too deeply nested JSON, a 503 while shutting down), has the error document shape.
 */
export const LEASE_HEADER = "automna-lease";
export const REQUEST_ID_HEADER = "x-request-id";
export const REQUEST_ID_RE = /^[A-Za-z0-9._-]{1,64}$/;
export const IDEMPOTENCY_KEY_HEADER = "idempotency-key";
export const IDEMPOTENCY_KEY_RE = /^[\x21-\x7e]{1,255}$/;
export const REPLAYED_HEADER = "idempotent-replayed";
/**
 * On every response of a server that honours idempotency keys. A client retries a mutation whose
 * outcome is unknown only once it has seen this: an older server ignores the key, and a retry
 * there could apply the write twice.
 */
export const KEYS_HONOURED_HEADER = "automna-idempotency";
/** The most operations one request lists (see above). */
export const OPERATIONS_PAGE_MAX = 10_000;

export function encodeLease(ref: LeaseRef): string {
  return `${ref.user}:${ref.leaseId}`;
}

const LEASE_RE = new RegExp(`^(${USER_ID_RE.source.slice(1, -1)}):([A-Za-z0-9_-]{1,100})$`);

export function decodeLease(header: string): LeaseRef | undefined {
  const m = LEASE_RE.exec(header.trim());
  return m ? { user: m[1]!, leaseId: m[2]! } : undefined;
}

export function encodeVersion(version: number): string {
  return `"${version}"`;
}

export function decodeVersion(header: string): number | undefined {
  const m = /^(?:W\/)?"?(\d{1,15})"?$/.exec(header.trim());
  return m ? Number(m[1]) : undefined;
}

export interface WireError {
  code: string;
  message: string;
  hint?: string;
  holder?: LockHolder;
  requestId?: string;
}
