import { ConflictError, LockedError, type LockHolder } from "../lib/errors.js";
import type { IdempotencyClaim } from "./idempotency.js";
import { ForbiddenError } from "./server/errors.js";
import type { Lease, LeaseRef } from "./types.js";

/**
 * The semantics every store enforces, written once so the embedded, PostgreSQL and HTTP stores
 * say the same thing in the same words. The SQL stores call these from sql-store.ts, inside the
 * transaction that guards the write.
 */

export function leaseHolder(lease: Lease): Required<LockHolder> {
  return { who: lease.holder.who, operation: lease.holder.operation, since: lease.acquiredAt, leaseId: lease.leaseId, expiresAt: lease.expiresAt };
}

/**
 * The user is held by someone else's live lease: who, doing what, from which process (when the
 * holder said), until when, and the command that frees it.
 */
export function lockedBy(user: string, live: Lease): LockedError {
  const h = live.holder;
  const where = h.host ? ` (${h.pid === undefined ? "" : `pid ${h.pid} `}on ${h.host})` : "";
  return new LockedError(`${user} is locked by ${h.who} (${h.operation}) until ${live.expiresAt}${where}`, leaseHolder(live), {
    hint: `wait for it to finish (or for the lease to expire), or break it with: automna lock break ${user} --lease ${live.leaseId}`,
  });
}

/**
 * On a state server a lease is renewed or released only by its holder (the operator of the token
 * that took it) or an admin: lease ids are readable with any token, and another operator freeing
 * or extending a lease would defeat it. Breaking one is admin-only (a route scope).
 */
export function assertLeaseHolder(lease: Lease, stamp: AuditStamp | undefined): void {
  if (!stamp?.holderOnly || lease.holder.who === stamp.who) return;
  throw new ForbiddenError(`lease ${lease.leaseId} on ${lease.user} is held by ${lease.holder.who}, not ${stamp.who}; only its holder or an admin may renew or release it`,
    `an admin can break it: automna lock break ${lease.user} --lease ${lease.leaseId}`);
}

/**
 * Fencing: while a user's lease is live only its holder may write that user's records, and a
 * presented lease must be the live one (an expired or broken lease's late writes are rejected).
 */
export function assertLeaseAllows(user: string, presented: LeaseRef | undefined, live: Lease | undefined): void {
  if (presented) {
    if (presented.user !== user) throw new LockedError(`lease ${presented.leaseId} belongs to ${presented.user}, not ${user}`);
    if (!live || live.leaseId !== presented.leaseId) {
      throw new LockedError(`lease ${presented.leaseId} on ${user} is no longer held (it expired or was broken); the write was rejected`, live ? leaseHolder(live) : undefined, {
        hint: "another operation may have taken over; check `automna lock list`",
      });
    }
    return;
  }
  if (live) throw lockedBy(user, live);
}

/** A stale expectedVersion. Its own code so the HTTP layer answers 412 and the client retries. */
export function versionConflict(what: string, current: number, expected: number): ConflictError {
  return new ConflictError(`${what} changed since it was read (version ${current}, expected ${expected})`, {
    code: "version_conflict",
    hint: "read it again and retry",
  });
}

export function assertVersion(what: string, current: number, expected: number | undefined): void {
  if (expected !== undefined && expected !== current) throw versionConflict(what, current, expected);
}

/** Audit actions the stores record for the writes they make on a server's behalf. */
export type AuditAction =
  | "instance.create" | "instance.update" | "instance.delete"
  | "usage.open" | "usage.close"
  | "operation.create" | "operation.update" | "journal.append"
  | "lease.acquire" | "lease.renew" | "lease.release" | "lease.break"
  | "token.create" | "token.revoke"
  | "labels.update";

/**
 * Who is writing: the operator of the CLI's embedded store, or of a state server request or the
 * token admin. Every mutation made through an audited store appends an audit row in the same
 * transaction, so a crash can never keep a change and lose its record (or the reverse).
 */
export interface AuditStamp {
  who: string;
  requestId: string | null;
  /** Leases may be renewed or released only when `who` holds them (a state server request without admin scope). */
  holderOnly?: boolean;
  /** A keyed request: the view's mutation also claims the key and records its response, in the same transaction. */
  idempotency?: IdempotencyClaim;
}
