import type { Context } from "../context.js";
import { defaultKnownHostsPath, normalizeHostKey, pinHostKeys, pinnedKeys, unpinHost } from "../lib/known-hosts.js";
import type { Instance } from "../state/types.js";
import { hostKeysOf, sshAddress } from "./target.js";

/**
 * What provisioning and destroying need to pin a created machine's SSH host keys and forget them
 * (the keys themselves are made by fleet/create-by-marker.ts and kept in state).
 */
export interface ProvisionAccess {
  /** Pins the instance's host keys (`meta.hostKeys`) for its address in automna's known_hosts. */
  pin(instance: Pick<Instance, "addresses" | "meta">): Promise<void>;
  /**
   * Removes a destroyed machine's pin, but only while it is still that machine's: providers hand
   * addresses out again, and a newer machine's pin at the same address stays.
   */
  forget(instance: Pick<Instance, "addresses" | "meta">): Promise<void>;
}

export async function provisionAccess(ctx: Context): Promise<ProvisionAccess> {
  const config = await ctx.config();
  const port = config.getNumber("ssh.port") ?? 22;
  const knownHosts = defaultKnownHostsPath(ctx.env);
  return {
    async pin(instance) {
      const address = sshAddress(instance.addresses);
      const keys = hostKeysOf(instance);
      // Re-pinning an address replaces what was there: a re-created machine has a new key.
      if (address && keys.length) await pinHostKeys(knownHosts, { address, port, keys });
    },
    async forget(instance) {
      const address = sshAddress(instance.addresses);
      const keys = hostKeysOf(instance).map(normalizeHostKey).sort();
      if (!address || keys.length === 0) return;
      const pinned = (await pinnedKeys(knownHosts, address, port)).sort();
      if (pinned.length === keys.length && pinned.every((k, i) => k === keys[i])) await unpinHost(knownHosts, address, port);
    },
  };
}
