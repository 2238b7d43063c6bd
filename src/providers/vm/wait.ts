import { AutomnaError } from "../../lib/errors.js";
import { sleep } from "../../lib/rate-budget.js";
import { pollIntervals } from "../deps.js";
import type { ProviderInstance } from "../types.js";

/**
 * Polls a VM (a Hetzner server, a droplet) until it reaches `state`: gone is not_found, past the
 * deadline a timeout. `label` names it in errors ("Hetzner server 42").
 */
export async function waitForVm(
  label: string,
  read: () => Promise<ProviderInstance | undefined>,
  state: "running" | "stopped",
  opts: { timeoutMs: number; pollMs: number; signal?: AbortSignal | undefined },
): Promise<ProviderInstance> {
  const deadline = Date.now() + opts.timeoutMs;
  const intervals = pollIntervals(opts.pollMs);
  for (;;) {
    const now = await read();
    if (!now) throw new AutomnaError(`${label} no longer exists`, { code: "not_found" });
    if (now.status === state) return now;
    if (Date.now() > deadline) throw new AutomnaError(`${label} is still ${now.providerStatus} after ${Math.round(opts.timeoutMs / 1000)} s`, { code: "timeout" });
    await sleep(intervals.next().value as number, opts.signal);
  }
}
