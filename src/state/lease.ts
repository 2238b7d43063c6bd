import { hostname } from "node:os";
import { LockedError } from "../lib/errors.js";
import type { Lease, LeaseHolder, LeaseRef, StateStore } from "./types.js";

/** The default TTL of a lease held while a command works on a user. */
export const LEASE_TTL_MS = 10 * 60_000;

export interface HeldLeases {
  readonly leases: Lease[];
  /** Refs by user, to present with every write (fencing). */
  ref(user: string): LeaseRef;
  /** Users whose lease was lost (a heartbeat was refused): their work must stop. */
  readonly lost: ReadonlySet<string>;
  /** Aborted as soon as any held lease is lost, so long work can stop between steps. */
  readonly signal: AbortSignal;
  /** Stops heartbeats and releases whatever is still held. */
  release(): Promise<void>;
}

export interface HoldOptions {
  ttlMs: number;
  /** Heartbeat interval; default a third of the TTL, so two missed beats still leave time. */
  heartbeatMs?: number;
  /** Called once per user whose lease is lost. */
  onLost?: (user: string, error: LockedError) => void;
}

/** Whether a process of this machine exists (EPERM: it does, it is another user's). */
export function processAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === "EPERM";
  }
}

/** A lease whose holder said it runs on this machine, as a process that no longer exists (a crash, kill -9, a closed pipe). */
export function heldByDeadProcess(lease: Lease): boolean {
  const { host, pid } = lease.holder;
  return host === hostname() && pid !== undefined && pid !== process.pid && !processAlive(pid);
}

/**
 * Takes the user's lease. A live lease whose holder process is gone from this machine is taken
 * over at once rather than blocking the user until its TTL: it is released (on a state server
 * only its holder's operator may, so another operator's stays until it expires or an admin
 * breaks it) and taken again. Any other live holder is the store's LockedError (exit 4), naming
 * holder, operation, expiry and the command that frees it.
 */
export async function acquireLease(store: StateStore, user: string, holder: LeaseHolder, ttlMs: number): Promise<Lease> {
  try {
    return await store.acquireLease(user, holder, ttlMs);
  } catch (error) {
    if (!(error instanceof LockedError)) throw error;
    const live = await store.getLease(user);
    if (!live || !heldByDeadProcess(live)) throw error;
    try {
      await store.releaseLease({ user, leaseId: live.leaseId });
    } catch {
      throw error;
    }
    await store.appendAudit({ who: holder.who, action: "lease.takeover", target: user, details: { leaseId: live.leaseId, from: live.holder, operation: holder.operation } })
      .catch(() => undefined);
    return store.acquireLease(user, holder, ttlMs);
  }
}

/**
 * Takes the leases of several users, all or none (in sorted order, so two runs over overlapping
 * sets cannot each hold half), and keeps them alive with heartbeats until released. The holder
 * is recorded with this machine and process, so a crash's leases are taken over by the next
 * command here (acquireLease) and elsewhere simply expire; a lease that is lost meanwhile
 * (expired and taken over, or broken) is reported through `lost`, `signal` and `onLost`, and every
 * later write presenting it is refused by the store (fencing).
 */
export async function holdLeases(store: StateStore, users: string[], holder: LeaseHolder, options: HoldOptions): Promise<HeldLeases> {
  const self: LeaseHolder = { ...holder, host: holder.host ?? hostname(), pid: holder.pid ?? process.pid };
  const taken: Lease[] = [];
  try {
    for (const user of [...users].sort()) taken.push(await acquireLease(store, user, self, options.ttlMs));
  } catch (error) {
    await Promise.allSettled(taken.map((l) => store.releaseLease({ user: l.user, leaseId: l.leaseId })));
    throw error;
  }
  const byUser = new Map(taken.map((l) => [l.user, l]));
  const lost = new Set<string>();
  const aborter = new AbortController();
  let beating: Promise<unknown> = Promise.resolve();
  let inFlight = false;
  const beat = (): void => {
    // A beat slower than the interval (a busy machine, a slow server) is not overlapped by the
    // next: two renewals of one lease in flight would both see it lost and report it twice.
    if (inFlight) return;
    inFlight = true;
    beating = Promise.allSettled([...byUser.values()].filter((l) => !lost.has(l.user)).map(async (l) => {
      try {
        byUser.set(l.user, await store.renewLease({ user: l.user, leaseId: l.leaseId }, options.ttlMs));
      } catch (error) {
        // Only a refusal means the lease is gone; a network blip is retried at the next beat.
        if (error instanceof LockedError && !lost.has(l.user)) {
          lost.add(l.user);
          options.onLost?.(l.user, error);
          aborter.abort(error);
        }
      }
    })).finally(() => {
      inFlight = false;
    });
  };
  const timer = setInterval(beat, options.heartbeatMs ?? Math.max(100, Math.floor(options.ttlMs / 3)));
  timer.unref();
  // A state server back from an outage: renew at once, so the beats missed while it was down
  // leave the whole TTL again rather than what remained of it.
  const unwatch = store.onWait?.((event) => {
    if (event.kind === "recovered") beat();
  });
  return {
    leases: taken,
    lost,
    signal: aborter.signal,
    ref(user) {
      const l = byUser.get(user);
      if (!l) throw new Error(`no lease held on ${user}`);
      return { user, leaseId: l.leaseId };
    },
    async release() {
      clearInterval(timer);
      unwatch?.();
      await beating;
      await Promise.allSettled([...byUser.values()].filter((l) => !lost.has(l.user)).map((l) => store.releaseLease({ user: l.user, leaseId: l.leaseId })));
    },
  };
}

/**
 * Runs fn holding one user's lease, so no other automna process acts on that user meanwhile
 * (a held lease is a LockedError, exit 4). The lease is renewed while fn runs and released after
 * it, even when it fails.
 */
export async function withLease<T>(state: StateStore, user: string, holder: LeaseHolder, fn: (lease: LeaseRef, held: HeldLeases) => Promise<T>, ttlMs = LEASE_TTL_MS): Promise<T> {
  const held = await holdLeases(state, [user], holder, { ttlMs, heartbeatMs: Math.max(1000, Math.floor(ttlMs / 3)) });
  try {
    return await fn(held.ref(user), held);
  } finally {
    await held.release();
  }
}
