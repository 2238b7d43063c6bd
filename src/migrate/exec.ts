import type { Context } from "../context.js";
import type { HostRunner } from "./types.js";

/**
 * The transport the data path runs its scripts over: OpenSSH with pinned host keys on VMs, the
 * Machines exec API on Fly (src/access/run.ts).
 */
export async function hostRunner(ctx: Context): Promise<HostRunner> {
  const { runOnInstance } = await import("../access/run.js");
  return (instance, command, options = {}) => runOnInstance(ctx, instance, command, options);
}
