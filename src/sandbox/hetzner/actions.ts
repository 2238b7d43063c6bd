import type { SandboxEnv } from "../env.js";
import { isoOffset } from "../util.js";
import type { HetznerAction } from "../world-types.js";

/**
 * Hetzner actions: records that run for `actionDelayMs` (status `running`, progress rising)
 * and then succeed, applying their effect through a handler registered per command. The set of
 * running actions per server backs `locked` and the 423 a second action gets.
 */
export class HetznerActions {
  readonly #env: SandboxEnv;
  readonly #effects = new Map<string, (action: HetznerAction) => void>();
  /** server id -> running action ids */
  readonly #running = new Map<number, Set<number>>();

  constructor(env: SandboxEnv) {
    this.#env = env;
    for (const action of env.world.hetzner.actions.values()) if (action.status === "running") this.#track(action);
    env.timeline.on("hetzner.action", (ref) => this.#finish(Number(ref)));
  }

  /** Registers what finishing a command does. */
  onFinish(command: string, effect: (action: HetznerAction) => void): void {
    this.#effects.set(command, effect);
  }

  /** Starts an action on a server that finishes after `delayMs`. */
  start(command: string, serverId: number, delayMs: number): HetznerAction {
    const now = Date.now();
    const action: HetznerAction = {
      id: this.#env.world.nextId("hetzner.action"),
      command,
      status: "running",
      started: now,
      finished: null,
      due: now + delayMs,
      resources: [{ id: serverId, type: "server" }],
      error: null,
    };
    this.#env.world.hetzner.actions.set(action.id, action);
    this.#track(action);
    this.#env.timeline.add("hetzner.action", action.id, delayMs);
    return action;
  }

  #track(action: HetznerAction): void {
    for (const r of action.resources) {
      if (r.type !== "server") continue;
      let set = this.#running.get(r.id);
      if (!set) this.#running.set(r.id, (set = new Set()));
      set.add(action.id);
    }
  }

  #finish(id: number): void {
    const action = this.#env.world.hetzner.actions.get(id);
    if (!action || action.status !== "running") return;
    action.status = "success";
    action.finished = Date.now();
    for (const r of action.resources) {
      const set = this.#running.get(r.id);
      set?.delete(action.id);
      if (set?.size === 0) this.#running.delete(r.id);
    }
    this.#effects.get(action.command)?.(action);
    this.#env.world.changed();
  }

  /** Whether the server has an action in flight. */
  busy(serverId: number): boolean {
    return (this.#running.get(serverId)?.size ?? 0) > 0;
  }

  /** A server is gone: its running actions can no longer block anything. */
  forget(serverId: number): void {
    this.#running.delete(serverId);
  }

  get(id: number): HetznerAction | undefined {
    return this.#env.world.hetzner.actions.get(id);
  }

  forServer(serverId: number): HetznerAction[] {
    return [...this.#env.world.hetzner.actions.values()].filter((a) => a.resources.some((r) => r.type === "server" && r.id === serverId));
  }
}

export function renderAction(action: HetznerAction, now = Date.now()): Record<string, unknown> {
  const span = Math.max(1, action.due - action.started);
  const progress = action.status === "running" ? Math.min(99, Math.floor(((now - action.started) / span) * 100)) : 100;
  return {
    id: action.id,
    command: action.command,
    status: action.status,
    progress: Math.max(0, progress),
    started: isoOffset(action.started),
    finished: action.finished === null ? null : isoOffset(action.finished),
    resources: action.resources,
    error: action.error,
  };
}
