import type { World } from "./world.js";
import type { PendingTransition } from "./world-types.js";

export type TransitionHandler = (ref: string) => void;

/**
 * Future state changes (an action finishing, a machine reaching "started"), kept in the world
 * so a restarted sandbox finishes what was in flight. Handlers are looked up by kind when a
 * transition is due; they re-check the resource, so a transition for something deleted
 * meanwhile is a no-op.
 *
 * Transitions fire strictly in due order (ties in the order they were added): one timer for the
 * earliest, and a min-heap behind it. A timer per transition is not enough: under load Node
 * runs expired timers of different durations out of order, and a machine's "starting" (due at
 * half the delay) then landed after its "started", leaving it starting for ever.
 */
export class Timeline {
  readonly #world: World;
  readonly #handlers = new Map<string, TransitionHandler>();
  /** Min-heap on (due, seq). */
  readonly #heap: { entry: PendingTransition; seq: number }[] = [];
  #seq = 0;
  #timer: NodeJS.Timeout | undefined;
  #armedFor = Infinity;
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
    this.#push(entry);
    this.#arm();
  }

  /** Arms transitions loaded from disk; overdue ones fire at once, in due order. */
  resume(): void {
    for (const entry of [...this.#world.pending].sort((a, b) => a.due - b.due)) this.#push(entry);
    this.#arm();
  }

  #less(i: number, j: number): boolean {
    const a = this.#heap[i]!;
    const b = this.#heap[j]!;
    return a.entry.due < b.entry.due || (a.entry.due === b.entry.due && a.seq < b.seq);
  }

  #swap(i: number, j: number): void {
    const h = this.#heap;
    [h[i], h[j]] = [h[j]!, h[i]!];
  }

  #push(entry: PendingTransition): void {
    this.#heap.push({ entry, seq: this.#seq++ });
    for (let i = this.#heap.length - 1; i > 0;) {
      const parent = (i - 1) >> 1;
      if (!this.#less(i, parent)) break;
      this.#swap(i, parent);
      i = parent;
    }
  }

  #pop(): PendingTransition | undefined {
    const h = this.#heap;
    const top = h[0];
    const last = h.pop();
    if (h.length > 0 && last) {
      h[0] = last;
      for (let i = 0; ;) {
        const l = 2 * i + 1;
        const r = l + 1;
        let m = i;
        if (l < h.length && this.#less(l, m)) m = l;
        if (r < h.length && this.#less(r, m)) m = r;
        if (m === i) break;
        this.#swap(i, m);
        i = m;
      }
    }
    return top?.entry;
  }

  /** Keeps one timer, set for the earliest pending transition. */
  #arm(): void {
    if (this.#closed) return;
    const next = this.#heap[0]?.entry.due ?? Infinity;
    if (next >= this.#armedFor && this.#timer) return;
    if (this.#timer) clearTimeout(this.#timer);
    this.#timer = undefined;
    this.#armedFor = next;
    if (next === Infinity) return;
    this.#timer = setTimeout(() => {
      this.#timer = undefined;
      this.#armedFor = Infinity;
      this.#run();
    }, Math.max(0, next - Date.now()));
  }

  /** Fires every transition that is due, earliest first. */
  #run(): void {
    const now = Date.now();
    while (!this.#closed && this.#heap.length > 0 && this.#heap[0]!.entry.due <= now) {
      const entry = this.#pop()!;
      if (!this.#world.pending.delete(entry)) continue;
      this.#handlers.get(entry.kind)?.(entry.ref);
      this.#world.changed();
    }
    this.#arm();
  }

  /** Drops every pending transition (admin reset). */
  clear(): void {
    if (this.#timer) clearTimeout(this.#timer);
    this.#timer = undefined;
    this.#armedFor = Infinity;
    this.#heap.length = 0;
    this.#world.pending.clear();
  }

  close(): void {
    this.#closed = true;
    if (this.#timer) clearTimeout(this.#timer);
    this.#timer = undefined;
  }
}
