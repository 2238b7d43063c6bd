import type { LockHolder } from "../lib/errors.js";
import type { LeaseRef } from "./types.js";

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
 */
export const LEASE_HEADER = "automna-lease";
export const REQUEST_ID_HEADER = "x-request-id";
export const REQUEST_ID_RE = /^[A-Za-z0-9._-]{1,64}$/;

export function encodeLease(ref: LeaseRef): string {
  return `${ref.user}:${ref.leaseId}`;
}

export function decodeLease(header: string): LeaseRef | undefined {
  const m = /^([a-z0-9][a-z0-9-]{0,40}):([A-Za-z0-9_-]{1,100})$/.exec(header.trim());
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
