import type { Context } from "../context.js";
import { NotSupportedError } from "../lib/errors.js";
import type { HostRunner } from "./types.js";

/**
 * The transport the data path runs its scripts over: OpenSSH with pinned host keys on VMs, the
 * Machines exec API on Fly (runOnInstance, from the access work). PENDING until that lands.
 */
export async function hostRunner(_ctx: Context): Promise<HostRunner> {
  throw new NotSupportedError("running commands on instances is not available in this build yet");
}
