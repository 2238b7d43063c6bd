import { ConflictError, LockedError, type LockHolder } from "../lib/errors.js";
import type { IdempotencyClaim } from "./idempotency.js";
import type { Lease, LeaseRef } from "./types.js";

/**
 * The semantics every store enforces, written once so the embedded, PostgreSQL and HTTP stores
 * say the same thing in the same words. Each store calls these inside the transaction that
 * guards the write.
 */

export function leaseHolder(lease: Lease): Required<LockHolder> {
  return { who: lease.holder.who, operation: lease.holder.operation, since: lease.acquiredAt, leaseId: lease.leaseId, expiresAt: lease.expiresAt };
}

/** The user is held by someone else's live lease. */
export function lockedBy(user: string, live: Lease): LockedError {
  return new LockedError(`${user} is locked by ${live.holder.who} (${live.holder.operation}) until ${live.expiresAt}`, leaseHolder(live), {
    hint: `wait for it to finish, or break it with: automna lock break ${user} --lease ${live.leaseId}`,
  });
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
  | "token.create" | "token.revoke";

/**
 * Who is writing, for stores opened by `automna state serve` or the token admin: every mutation
 * made through an audited view appends an audit row in the same transaction, so a crash can never
 * keep a change and lose its record (or the reverse).
 */
export interface AuditStamp {
  who: string;
  requestId: string | null;
  /** A keyed request: the view's mutation also claims the key and records its response, in the same transaction. */
  idempotency?: IdempotencyClaim;
}
