import { NotFoundError } from "../lib/errors.js";
import { newId } from "../lib/ids.js";
import { LEASE_COLUMNS, toLease } from "./rows.js";
import { assertLeaseAllows, assertLeaseHolder, lockedBy } from "./rules.js";
import { first, lockUser, run, type Steps } from "./sql-steps.js";
import { audit, LEASES, liveLease, marks, type Write } from "./sql-writes.js";
import type { Lease, LeaseHolder, LeaseRef } from "./types.js";

/**
 * Lease changes, for SQLite and PostgreSQL alike. Each takes the user's exclusive lock, so it
 * waits for writes made under the lease (shared lock, sql-writes.ts) and the reverse. A lease is
 * renewed or released only by its holder or an admin (assertLeaseHolder); breaking one is for
 * admins (the server's route scope).
 */

const FREE = "UPDATE leases SET lease_id = NULL, holder = NULL, expires_at = NULL WHERE {user} = ?";

export function* acquireLease(w: Write, user: string, holder: LeaseHolder, ttlMs: number): Steps<Lease> {
  yield* lockUser(user, true);
  const at = w.now.toISOString();
  // One read for both: whether a live lease stands in the way, and the fence it had.
  const row = yield* first(`${LEASES} WHERE {user} = ?`, [user], (r) => r);
  const current = row && row[1] !== null && row[1] !== undefined ? toLease(row) : undefined;
  if (current && current.expiresAt > at) throw lockedBy(user, current);
  const fence = (row ? Number(row[6]) : 0) + 1;
  const lease: Lease = { user, leaseId: newId("lease", w.now), holder, acquiredAt: at, heartbeatAt: at, expiresAt: new Date(w.now.getTime() + ttlMs).toISOString(), fence };
  yield* run(`INSERT INTO leases (${LEASE_COLUMNS}) VALUES (${marks(7)}) ON CONFLICT ({user}) DO UPDATE SET lease_id = excluded.lease_id,
     holder = excluded.holder, acquired_at = excluded.acquired_at, heartbeat_at = excluded.heartbeat_at, expires_at = excluded.expires_at,
     fence = excluded.fence`, [user, lease.leaseId, holder, lease.acquiredAt, lease.heartbeatAt, lease.expiresAt, lease.fence]);
  yield* audit(w, "lease.acquire", user, { leaseId: lease.leaseId, operation: holder.operation, holder: holder.who, ttlMs, fence });
  return lease;
}

export function* renewLease(w: Write, ref: LeaseRef, ttlMs: number): Steps<Lease> {
  yield* lockUser(ref.user, true);
  const live = yield* liveLease(ref.user, w.now);
  assertLeaseAllows(ref.user, ref, live);
  assertLeaseHolder(live!, w.stamp);
  const expiresAt = new Date(w.now.getTime() + ttlMs).toISOString();
  const renewed = yield* first(`UPDATE leases SET heartbeat_at = ?, expires_at = ? WHERE {user} = ? AND lease_id = ? RETURNING ${LEASE_COLUMNS}`,
    [w.now.toISOString(), expiresAt, ref.user, ref.leaseId], toLease);
  yield* audit(w, "lease.renew", ref.user, { leaseId: ref.leaseId, expiresAt });
  return renewed!;
}

export function* releaseLease(w: Write, ref: LeaseRef): Steps<void> {
  yield* lockUser(ref.user, true);
  if (w.stamp?.holderOnly) {
    const held = yield* first(`${LEASES} WHERE {user} = ? AND lease_id = ?`, [ref.user, ref.leaseId], toLease);
    if (held) assertLeaseHolder(held, w.stamp);
  }
  // Releasing a lease that was already lost is not an error: there is nothing left to free.
  if ((yield* run(`${FREE} AND lease_id = ?`, [ref.user, ref.leaseId])) === 0) return;
  yield* audit(w, "lease.release", ref.user, { leaseId: ref.leaseId });
}

export function* breakLease(w: Write, user: string, leaseId: string): Steps<Lease> {
  yield* lockUser(user, true);
  const lease = yield* first(`${LEASES} WHERE {user} = ? AND lease_id = ?`, [user, leaseId], toLease);
  if (!lease) throw new NotFoundError(`no lease ${leaseId} on ${user}`, { hint: "automna lock list shows live leases" });
  yield* run(FREE, [user]);
  yield* audit(w, "lease.break", user, { leaseId, holder: lease.holder.who, operation: lease.holder.operation });
  return lease;
}
