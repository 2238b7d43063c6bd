import type { World } from "./world.js";
import type { PendingTransition } from "./world-types.js";

export type TransitionHandler = (ref: string) => void;

/**
 * Future state changes (an action finishing, a machine reaching "started"), kept in the world
 * so a restarted sandbox finishes what was in flight: each is a persisted record plus a timer.
 * Handlers are looked up by kind when the timer fires; they re-check the resource, so a
 * transition for something deleted meanwhile is a no-op.
 */
export class Timeline {
  readonly #world: World;
  readonly #handlers = new Map<string, TransitionHandler>();
  readonly #timers = new Set<NodeJS.Timeout>();
  #closed = false;

  constructor(world: World) {
    this.#world = world;
  }

  on(kind: string, handler: TransitionHandler): void {
    this.#handlers.set(kind, handler);
  }

  /** Schedules `kind` for `ref` after `delayMs`. */
  add(kind: string, ref: string | number, delayMs: number): void {
    const entry: PendingTransition = { due: Date.now() + Math.max(0, delayMs), kind, ref: String(ref) };
    this.#world.pending.add(entry);
    this.#world.changed();
    this.#arm(entry);
  }

  /** Arms timers for transitions loaded from disk; overdue ones fire at once, in due order. */
  resume(): void {
    const loaded = [...this.#world.pending].sort((a, b) => a.due - b.due);
    for (const entry of loaded) this.#arm(entry);
  }

  #arm(entry: PendingTransition): void {
    if (this.#closed) return;
    const timer = setTimeout(() => {
      this.#timers.delete(timer);
      this.#fire(entry);
    }, Math.max(0, entry.due - Date.now()));
    this.#timers.add(timer);
  }

  #fire(entry: PendingTransition): void {
    if (!this.#world.pending.delete(entry)) return;
    this.#handlers.get(entry.kind)?.(entry.ref);
    this.#world.changed();
  }

  /** Drops every pending transition (admin reset). */
  clear(): void {
    for (const timer of this.#timers) clearTimeout(timer);
    this.#timers.clear();
    this.#world.pending.clear();
  }

  close(): void {
    this.#closed = true;
    for (const timer of this.#timers) clearTimeout(timer);
    this.#timers.clear();
  }
}
