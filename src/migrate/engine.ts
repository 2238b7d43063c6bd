import { hostname } from "node:os";
import { AutomnaError, NotFoundError } from "../lib/errors.js";
import { newId } from "../lib/ids.js";
import { holdLeases, type HeldLeases } from "../state/lease.js";
import type { Operation } from "../state/types.js";
import { forward } from "./forward.js";
import { interruptionOf, standDown } from "./interrupt.js";
import { Journal } from "./journal.js";
import { outcomeOf } from "./outcome.js";
import { assertBeforeSwitch, rollback } from "./rollback.js";
import { Run } from "./run.js";
import { UNFINISHED, unfinishedConflict, unfinishedMigration } from "./unfinished.js";
import { COMMIT_STEP, MIGRATE_KIND, type EngineDeps, type MigrateOutcome, type MigrateParams } from "./types.js";


/**
 * Takes the user's lease for an operation: a lease of a dead process of this machine is taken
 * over at once (state/lease.ts); any other live holder is a LockedError (exit 4) naming who holds
 * it, for which operation, until when, and how to free it.
 */
function takeLease(deps: EngineDeps, user: string, opId: string): Promise<HeldLeases> {
  return holdLeases(deps.state, [user], { who: deps.who, operation: opId, host: hostname(), pid: process.pid }, { ttlMs: deps.leaseTtlMs });
}

async function openRun(deps: EngineDeps, op: Operation, held: HeldLeases): Promise<Run> {
  const lease = held.ref(op.user);
  const j = new Journal({ state: deps.state, lease, crash: deps.crash, emit: deps.emit, now: deps.now, signal: deps.signal, leaseSignal: held.signal, leaseTtlMs: deps.leaseTtlMs }, op, await deps.state.listJournal(op.id));
  const params = op.params as unknown as MigrateParams;
  const [from, to] = await Promise.all([deps.registry.get(params.from), deps.registry.get(params.to)]);
  return new Run(deps, j, params, lease, from, to);
}

/**
 * Drives a migration to its end from wherever its journal stands: forward, and before the switch
 * a failure rolls it back. A lost lease, a lost state store or Ctrl-C stops it where it is
 * (resumable; see interrupt.ts); after the switch a failure leaves it `failed`, to be resumed forward.
 */
async function drive(r: Run): Promise<void> {
  const { j } = r;
  if (j.op.status === "rolling_back") return rollback(r, j.op.error ?? "resumed rollback");
  if (j.op.status === "failed") await j.update({ status: "running", error: null });
  try {
    await forward(r);
    await j.step("unlock", "done: releasing the user", {}, async () => ({}));
    // After the journal says every step is done (a crash in between is finished by a resume).
    if (j.op.status !== "succeeded") await j.update({ status: "succeeded", error: null });
  } catch (error) {
    // Interrupted (Ctrl-C, a lost lease, no state store): not a failure of the migration, so
    // nothing is rolled back; underLease stands it down.
    if (interruptionOf(r, error)) throw error;
    const message = error instanceof Error ? error.message : String(error);
    if (j.state(COMMIT_STEP).started) {
      await j.update({ status: "failed", error: message.slice(0, 1000) });
      throw error;
    }
    await rollback(r, message);
  }
}

async function withOperation(deps: EngineDeps, op: Operation, resuming: boolean, fn: (r: Run) => Promise<void>): Promise<MigrateOutcome> {
  const held = await takeLease(deps, op.user, op.id);
  return underLease(held, async () => {
    const run = await openRun(deps, op, held);
    if (resuming) await run.j.append("lock", "done", { leaseId: held.leases[0]!.leaseId, fence: held.leases[0]!.fence, resumedBy: deps.who });
    return run;
  }, fn);
}

/**
 * Opens the run under a held lease, drives it, and turns the journal into the user's outcome;
 * a failure before the run exists is the caller's error. The lease is released either way.
 */
async function underLease(held: HeldLeases, open: () => Promise<Run>, fn: (r: Run) => Promise<void>): Promise<MigrateOutcome> {
  let run: Run | undefined;
  try {
    run = await open();
    await interruptible(run, fn);
    return outcomeOf(run.j.op, run.j.entries, null);
  } catch (error) {
    if (!run) throw error;
    return outcomeOf(run.j.op, run.j.entries, error);
  } finally {
    await held.release();
  }
}

/** Runs fn; an interruption is stood down (the source serving again before the switch) and explained. */
async function interruptible(run: Run, fn: (r: Run) => Promise<void>): Promise<void> {
  try {
    await fn(run);
  } catch (error) {
    const stop = interruptionOf(run, error);
    if (stop) await standDown(run, stop, error);
    throw error;
  }
}

/** Starts a new migration of one user (planned and checked by the caller) and drives it to its end. */
export async function startMigration(deps: EngineDeps, user: string, params: MigrateParams): Promise<MigrateOutcome> {
  const opId = newId("op", deps.now());
  // The lease first: a migration in progress elsewhere is named by its holder (exit 4).
  const held = await takeLease(deps, user, opId);
  return underLease(held, async () => {
    const active = await unfinishedMigration(deps.state, user);
    if (active) throw unfinishedConflict(active, "a new migration would strand it");
    const op = await deps.state.createOperation({ id: opId, kind: MIGRATE_KIND, user, params: { ...params }, status: "running", step: "lock" }, { lease: held.ref(user) });
    return openRun(deps, op, held);
  }, async (run) => {
    await run.j.step("lock", `locked ${user}`, { ttlMs: deps.leaseTtlMs }, async () => ({ leaseId: held.leases[0]!.leaseId, fence: held.leases[0]!.fence }));
    await drive(run);
  });
}

async function loadMigration(deps: EngineDeps, opId: string): Promise<Operation> {
  const op = await deps.state.getOperation(opId);
  if (!op || op.kind !== MIGRATE_KIND) throw new NotFoundError(`no migration ${opId}`, { hint: "automna migrate status lists them" });
  return op;
}

/** `migrate resume`: continues from the first step not confirmed done (or continues a rollback). */
export async function resumeMigration(deps: EngineDeps, opId: string): Promise<MigrateOutcome> {
  const op = await loadMigration(deps, opId);
  if (!UNFINISHED.has(op.status)) return outcomeOf(op, await deps.state.listJournal(op.id), null);
  return withOperation(deps, op, true, drive);
}

/** `migrate rollback`: undoes a migration that has not reached the switch (exit 2 after it). */
export async function rollbackMigration(deps: EngineDeps, opId: string): Promise<MigrateOutcome> {
  const op = await loadMigration(deps, opId);
  if (op.status === "rolled_back") return outcomeOf(op, await deps.state.listJournal(op.id), null);
  let refused: unknown;
  const outcome = await withOperation(deps, op, true, async (r) => {
    try {
      assertBeforeSwitch(r);
    } catch (error) {
      refused = error;
      return;
    }
    await rollback(r, "rollback requested by " + deps.who);
  });
  if (refused) throw refused;
  if (outcome.result === "failed" && outcome.error) throw new AutomnaError(outcome.error.message, { code: outcome.error.code });
  return outcome;
}
