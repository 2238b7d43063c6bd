import { EventEmitter } from "node:events";
import type { Hosts } from "./hosts.js";
import type { SimHosts } from "./sim-hosts.js";
import type { Timeline } from "./timeline.js";
import type { World } from "./world.js";

/** What every provider stand-in shares: the world, the clock of transitions, the hosts. */
export interface SandboxEnv {
  world: World;
  timeline: Timeline;
  hosts: Hosts;
  /** How long async actions and state transitions take. */
  delayMs: number;
  /** Multiplies how fast rate-limit budgets recover. */
  rateScale: number;
  rateLimits: boolean;
  /** Fires `change:<key>` when a resource's state changes (long polls listen). */
  events: EventEmitter;
  warn(message: string): void;
  /** The simulated hosts (SSH, agent, exec), unless the sandbox runs with health endpoints only. */
  sim?: SimHosts | undefined;
  /**
   * Per-provider resource limits (servers, droplets): a create past the limit gets the provider's
   * own refusal (Hetzner 403 `resource_limit_exceeded`, DigitalOcean 422 droplet limit).
   */
  limits?: Partial<Record<"hetzner" | "digitalocean", number>> | undefined;
  /**
   * A second account's token, accepted where a stand-in models accounts (DigitalOcean: `GET
   * /v2/account` names another account, which sees only its own droplets).
   */
  secondAccountToken?: string | undefined;
}

export function createEvents(): EventEmitter {
  const events = new EventEmitter();
  events.setMaxListeners(0);
  return events;
}
