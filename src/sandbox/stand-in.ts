import type { LogEntry } from "./host/index.js";
import type { ProviderApi } from "./http.js";
import type { MachineFacts } from "./sim-hosts.js";

/**
 * One provider's stand-in as the sandbox runs it: its API (routes, budget, error bodies) plus
 * what the sandbox needs of its world, so src/sandbox/index.ts serves every provider the
 * manifests list without naming one. Made by the manifest's `sandbox.load()` factory.
 */
export interface StandIn extends ProviderApi {
  /** Loopback addresses its machines hold (new hosts get others). */
  addressesInUse(): string[];
  /** Brings back the simulated hosts of machines whose agents were up when the world was saved. */
  resumeHosts(): void;
  /** What a machine's simulated host needs at boot (keys, user-data, held); undefined when gone. */
  facts(hostId: string): MachineFacts | undefined;
  /** A line the agent of one of its hosts printed (where the provider's log API serves them). */
  onLog?(hostId: string, entry: LogEntry): void;
  /** A compact view of its world for the admin API (never tokens, secret values or user data). */
  summary(): Record<string, unknown>;
  /**
   * Admin: deletes a resource behind automna's back. `path` is what follows `/<provider>/` in
   * `DELETE /<provider>/...`; undefined when the stand-in has no such admin route.
   */
  adminDelete(path: string[]): boolean | undefined;
  /**
   * Makes `count` users that exist at the provider before automna knows them (`sandbox up
   * --seed-<provider> N`), with their data; returns the mapping file `import` reads and their ids.
   */
  seed?(count: number): Promise<{ mapping: string; users: string[] }>;
}
