import type { Context } from "../context.js";
import type { HostRunner } from "./types.js";

/**
 * The transport the data path runs its scripts over: OpenSSH with pinned host keys on VMs, the
 * Machines exec API on Fly (src/access/run.ts).
 */
export async function hostRunner(ctx: Context): Promise<HostRunner> {
  const { runOnInstance } = await import("../access/run.js");
  // One shared SSH connection per host for the dozen commands a migration or backup runs on it.
  return (instance, command, options = {}) => runOnInstance(ctx, instance, command, { ...options, share: true });
}
