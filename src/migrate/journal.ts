import { AutomnaError, CancelledError, LockedError } from "../lib/errors.js";
import type { JournalEntry, LeaseRef, Operation, StateStore } from "../state/types.js";
import { maybeCrash } from "./crash.js";
import type { CrashPoint, MigrateEvent } from "./types.js";

/** What the journal says about one step. */
export interface StepState {
  /** The data of its `done` entry, when it has one. */
  done: Record<string, unknown> | undefined;
  /** An intent was written and neither `done` nor `failed` followed: the external call may have happened. */
  dangling: boolean;
  /** It has an intent at all (started at some point). */
  started: boolean;
  /** Its `undone` entry (rolled back), when it has one. */
  undone: boolean;
}

/**
 * The steps a source restarted after its freeze makes stale: a holder interrupted before the
 * switch starts the frozen source again and journals `freeze` `undone` with `reopen: true`
 * (interrupt.ts); from then on these steps count only from that entry on, so the next run freezes
 * the source again and copies what changed anew.
 */
const FROZEN_WINDOW = new Set(["freeze", "final-restore", "verify", "start-target"]);

export function isReopening(e: JournalEntry): boolean {
  return e.step === "freeze" && e.phase === "undone" && e.data.reopen === true;
}

export function stepState(journal: readonly JournalEntry[], step: string): StepState {
  const reopened = FROZEN_WINDOW.has(step) ? journal.findLast(isReopening) : undefined;
  const mine = journal.filter((e) => e.step === step && (!reopened || e.seq > reopened.seq));
  const done = [...mine].reverse().find((e) => e.phase === "done");
  const last = mine.at(-1);
  return {
    done: done?.data,
    dangling: last?.phase === "intent",
    started: mine.some((e) => e.phase === "intent"),
    undone: mine.some((e) => e.phase === "undone"),
  };
}

export interface JournalContext {
  state: StateStore;
  lease: LeaseRef;
  crash: CrashPoint | null;
  emit: (event: MigrateEvent) => void;
  now: () => Date;
  signal: AbortSignal;
  /** Aborted when the lease is lost: no external call may start after that. */
  leaseSignal: AbortSignal;
  leaseTtlMs: number;
}

/**
 * Runs an operation's steps against its journal: a step with `done` is skipped (its data is
 * returned), otherwise its intent is written BEFORE the work and `done` right after, and the
 * operation row mirrors the step and what it learned. A dangling intent (a crash during the
 * work) is not written twice: the step runs again with `resumed: true` and must first look at
 * the world to see whether its side effect already happened.
 */
export class Journal {
  readonly #ctx: JournalContext;
  #op: Operation;
  #entries: JournalEntry[];

  constructor(ctx: JournalContext, op: Operation, entries: JournalEntry[]) {
    this.#ctx = ctx;
    this.#op = op;
    this.#entries = entries;
  }

  get op(): Operation {
    return this.#op;
  }

  get entries(): readonly JournalEntry[] {
    return this.#entries;
  }

  state(step: string): StepState {
    return stepState(this.#entries, step);
  }

  /** Data a finished step learned (throws when it has not finished: a bug in step order). */
  learned<T = Record<string, unknown>>(step: string): T {
    const done = this.state(step).done;
    if (!done) throw new AutomnaError(`internal: step ${step} has not finished`, { code: "internal" });
    return done as T;
  }

  /** Stops before any new external call when the lease was lost or the user pressed Ctrl-C. */
  checkpoint(): void {
    if (this.#ctx.leaseSignal.aborted) {
      throw new LockedError(`the lease on ${this.#op.user} was lost; ${this.#op.id} stopped`, undefined, { hint: "another process took over the operation; see automna migrate status" });
    }
    if (this.#ctx.signal.aborted) throw new CancelledError(`cancelled; ${this.#op.id} can be resumed (automna migrate resume ${this.#op.id}) or rolled back`);
  }

  /**
   * Proves the lease is still ours right now (a fenced write: renewing it), so an external call
   * made next is not made by a holder that was paused, expired and replaced.
   */
  async fence(): Promise<void> {
    this.checkpoint();
    await this.#ctx.state.renewLease(this.#ctx.lease, this.#ctx.leaseTtlMs);
  }

  async append(step: string, phase: JournalEntry["phase"], data: Record<string, unknown> = {}): Promise<JournalEntry> {
    const entry = await this.#ctx.state.appendJournal(this.#op.id, { step, phase, data }, { lease: this.#ctx.lease });
    this.#entries.push(entry);
    return entry;
  }

  async update(patch: Parameters<StateStore["updateOperation"]>[1]): Promise<void> {
    this.#op = await this.#ctx.state.updateOperation(this.#op.id, patch, { lease: this.#ctx.lease });
  }

  emit(step: string | null, phase: MigrateEvent["phase"], message: string, type: MigrateEvent["type"] = "step"): void {
    this.#ctx.emit({ type, user: this.#op.user, op: this.#op.id, step, phase, message, at: this.#ctx.now().toISOString() });
  }

  /** Runs one step (see the class comment); `label` is the progress text. */
  async step<T extends Record<string, unknown>>(step: string, label: string, intent: Record<string, unknown>, work: (resumed: boolean) => Promise<T>): Promise<T> {
    const before = this.state(step);
    if (before.done) return before.done as T;
    this.checkpoint();
    // Started before (a crash, a failure, Ctrl-C): its side effect may have happened, so the work
    // looks at the world first. A dangling intent is not written twice.
    const resumed = before.started;
    if (!before.dangling) {
      await this.append(step, "intent", intent);
      maybeCrash(this.#ctx.crash, step, "intent");
    }
    await this.update({ step });
    this.emit(step, resumed ? "resumed" : "start", resumed ? `${label} (resumed: checking what already happened)` : label);
    let out: T;
    try {
      out = await work(resumed);
    } catch (error) {
      const message = error instanceof Error ? error.message : String(error);
      // A refused write means someone else owns the operation now: write nothing more.
      if (!(error instanceof LockedError)) await this.append(step, "failed", { error: message.slice(0, 1000) }).catch(() => undefined);
      this.emit(step, "failed", message.split("\n")[0]!);
      throw error;
    }
    maybeCrash(this.#ctx.crash, step, "after");
    await this.append(step, "done", out);
    maybeCrash(this.#ctx.crash, step, "done");
    await this.update({ data: { ...this.#op.data, [step]: out } });
    this.emit(step, "done", doneText(label, out));
    return out;
  }
}

function doneText(label: string, out: Record<string, unknown>): string {
  return typeof out.summary === "string" ? out.summary : label;
}
