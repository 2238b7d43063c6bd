import type { SandboxEnv } from "./env.js";
import type { StandIn } from "./stand-in.js";

/** What a VM provider's world keeps of one machine and one registered SSH key. */
interface VmMachine { id: number; name: string; ipv4: string; sshKeys: number[]; userData: string | null; agentUp: boolean }
interface VmSshKey { id: number; name: string; fingerprint: string; publicKey: string }

/**
 * The part of a stand-in that every VM provider shares: machines are simulated hosts at their
 * IPv4 address, reached with the SSH keys registered at create and the user-data sent with it.
 */
export function vmStandInParts(env: SandboxEnv, provider: "hetzner" | "digitalocean", machines: Map<number, VmMachine>, keys: Map<number, VmSshKey>): Pick<StandIn, "addressesInUse" | "resumeHosts" | "facts"> & { sshKeySummary(): { id: number; name: string; fingerprint: string }[] } {
  return {
    addressesInUse: () => [...machines.values()].map((m) => m.ipv4),
    resumeHosts() {
      for (const m of machines.values()) if (m.agentUp) void env.hosts.set(env.hosts.host(provider, m.id, m.name, m.ipv4), true);
    },
    facts(id) {
      const m = machines.get(Number(id));
      if (!m) return undefined;
      return { authorizedKeys: m.sshKeys.map((k) => keys.get(k)?.publicKey).filter((k): k is string => !!k), userData: m.userData };
    },
    sshKeySummary: () => [...keys.values()].map((k) => ({ id: k.id, name: k.name, fingerprint: k.fingerprint })),
  };
}
