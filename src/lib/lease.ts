import type { LeaseHolder, LeaseRef, StateStore } from "../state/types.js";

export const LEASE_TTL_MS = 10 * 60_000;

/**
 * Runs fn holding the user's lease, so no other automna process acts on that user meanwhile
 * (a held lease is a LockedError, exit 4). The lease is renewed while fn runs and released
 * after it, even when it fails; a crashed process's lease simply expires.
 */
export async function withLease<T>(state: StateStore, user: string, holder: LeaseHolder, fn: (lease: LeaseRef) => Promise<T>, ttlMs = LEASE_TTL_MS): Promise<T> {
  const lease = await state.acquireLease(user, { ...holder, pid: process.pid }, ttlMs);
  const ref: LeaseRef = { user, leaseId: lease.leaseId };
  const timer = setInterval(() => {
    state.renewLease(ref, ttlMs).catch(() => undefined);
  }, Math.max(1000, ttlMs / 3));
  timer.unref();
  try {
    return await fn(ref);
  } finally {
    clearInterval(timer);
    await state.releaseLease(ref).catch(() => undefined);
  }
}

/** Runs fn over items with at most `limit` at a time, keeping the input order in the result. */
export async function mapConcurrent<T, R>(items: readonly T[], limit: number, fn: (item: T, index: number) => Promise<R>): Promise<R[]> {
  const out = new Array<R>(items.length);
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < items.length) {
      const i = next++;
      out[i] = await fn(items[i]!, i);
    }
  };
  await Promise.all(Array.from({ length: Math.max(1, Math.min(limit, items.length)) }, worker));
  return out;
}
