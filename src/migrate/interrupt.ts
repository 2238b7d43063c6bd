import { hostname } from "node:os";
import { AutomnaError, CancelledError, LockedError, OutputClosedError } from "../lib/errors.js";
import { acquireLease } from "../state/lease.js";
import type { JournalEntry, Lease, LeaseRef } from "../state/types.js";
import { setAgent, waitHealthy, type ExecDeps } from "./host.js";
import { stepState } from "./journal.js";
import type { Run } from "./run.js";

/** Why a run stopped without finishing: not the migration's own failure, so nothing is rolled back. */
export interface Interruption {
  kind: "cancelled" | "lease" | "state";
  why: string;
}

/** How long standing down may take (restarting the source and waiting for its health), at most. */
const STAND_DOWN_MS = 5 * 60_000;

/**
 * What running scripts needs for the last calls of an interrupted run (starting a stopped agent
 * again): when the run's own signal is the Ctrl-C that stopped it, one of their own, bounded.
 */
export function standDownExec<T extends ExecDeps>(deps: T): T {
  if (!deps.signal.aborted) return deps;
  return { ...deps, guard: undefined, signal: AbortSignal.timeout(STAND_DOWN_MS), sleep: (ms: number) => new Promise<void>((ok) => setTimeout(ok, ms)) };
}

/** The interruption an error (or the run's signal) stands for, or undefined for a real failure. */
export function interruptionOf(r: Run, error: unknown): Interruption | undefined {
  if (r.deps.signal.aborted || error instanceof CancelledError) {
    return { kind: "cancelled", why: r.deps.signal.reason instanceof OutputClosedError ? "the output pipe closed" : "Ctrl-C or SIGTERM" };
  }
  if (error instanceof LockedError) return { kind: "lease", why: `its lease on ${r.user} was lost (broken, or expired while it could not be renewed)` };
  if (error instanceof AutomnaError && error.code === "state_unreachable") return { kind: "state", why: "the state store could not be reached" };
  return undefined;
}

/**
 * Ends an interrupted run so the user is served and the operator knows what to do: before the
 * switch a frozen source is started again (and a started target held again, so exactly one agent
 * serves), and, where state can still be written, `freeze` is journaled undone with `reopen`, so a
 * resume freezes and copies anew (journal.ts). A lost lease that nobody took is taken back for
 * this; one someone else holds is left to them. Always throws: the interruption, naming the
 * operation, the step, whether the agent serves, and the next command.
 */
export async function standDown(r: Run, stop: Interruption, cause: unknown): Promise<never> {
  const { user, opId } = r;
  const step = r.j.op.step ?? "start";
  let entries: readonly JournalEntry[] = r.j.entries;
  let lease: LeaseRef | undefined = stop.kind === "cancelled" ? r.lease : undefined;
  let retaken: Lease | undefined;
  if (stop.kind === "lease") {
    try {
      retaken = await acquireLease(r.deps.state, user, { who: r.deps.who, operation: opId, host: hostname(), pid: process.pid }, r.deps.leaseTtlMs);
      lease = { user, leaseId: retaken.leaseId };
      entries = await r.deps.state.listJournal(opId);
    } catch (error) {
      if (error instanceof LockedError) {
        throw new LockedError(`${user}: migration ${opId} stopped at ${step}: ${stop.why}, and another process holds it now`, error.holder, {
          hint: `it goes on there; see automna migrate status ${opId}`,
        });
      }
    }
  }
  try {
    const frozen = stepState(entries, "freeze").started && !stepState(entries, "freeze").undone;
    const { serving, recorded } = stepState(entries, "switch").started ? { serving: afterSwitch(r, entries), recorded: true } : await restoreSource(r, entries, lease);
    const next = stepState(entries, "switch").started ? `automna migrate resume ${opId}`
      : !frozen ? `automna migrate resume ${opId}, or automna migrate rollback ${opId}`
        : recorded ? `automna migrate resume ${opId} (it freezes and copies again), or automna migrate rollback ${opId}`
        : `automna migrate rollback ${opId} (the source runs again but state could not record it, so a resume would roll back anyway)`;
    const message = `${user}: migration ${opId} interrupted at ${step} (${stop.why}); ${serving}`;
    const options = { code: "interrupted", hint: `next: ${next}`, cause };
    if (stop.kind === "cancelled") throw new CancelledError(message, options);
    if (stop.kind === "lease") throw new LockedError(message, undefined, options);
    throw new AutomnaError(message, options);
  } finally {
    if (retaken) await r.deps.state.releaseLease({ user, leaseId: retaken.leaseId }).catch(() => undefined);
  }
}

function afterSwitch(r: Run, entries: readonly JournalEntry[]): string {
  return stepState(entries, "start-target").done ? `${r.user}'s agent serves on ${r.to.title} (past the switch)` : `${r.user} is past the switch; its agent on ${r.to.title} may not serve yet`;
}

/** Before the switch: the source serves again when it was frozen; says so, and whether state recorded it. */
async function restoreSource(r: Run, entries: readonly JournalEntry[], lease: LeaseRef | undefined): Promise<{ serving: string; recorded: boolean }> {
  const freeze = stepState(entries, "freeze");
  if (!freeze.started || freeze.undone) return { serving: `${r.user}'s agent still serves on ${r.from.title} (it was not stopped)`, recorded: true };
  const host = standDownExec(r.deps);
  let serving: string;
  let healthy: boolean;
  try {
    const source = r.seen.source ?? await r.source();
    if (stepState(entries, "start-target").started) await setAgent(host, r.to, r.seen.target ?? await r.target(), false);
    await setAgent(host, r.from, source, true);
    healthy = await waitHealthy(host, source, r.deps.health, r.from).then(() => true, () => false);
    serving = healthy ? `${r.user}'s agent serves on ${r.from.title} again (the source was restarted)` : `${r.user}'s agent on ${r.from.title} was restarted but is not healthy yet`;
  } catch (error) {
    return { serving: `${r.user}'s agent on ${r.from.title} is stopped and could not be restarted: ${(error as Error).message.split("\n")[0]}`, recorded: true };
  }
  if (!lease) return { serving, recorded: false };
  try {
    await r.deps.state.appendJournal(r.opId, { step: "freeze", phase: "undone", data: { reopen: true, sourceHealthy: healthy, summary: "interrupted before the switch: source agent started again" } }, { lease });
    return { serving, recorded: true };
  } catch {
    return { serving, recorded: false };
  }
}
