import { deliveryScript } from "../../access/deliver-secrets.js";
import { revealAll, Secret } from "../../lib/redact.js";
import type { AccessInstance, InstanceAccess } from "../types.js";
import { AGENT_CONTAINER, AGENT_ENV_FILE, envFileText } from "./agent-container.js";

/** On a VM: the env file cloud-init and secret delivery wrote (absent: nothing set yet). */
export function readEnvScript(): string {
  return `f="\${AUTOMNA_ENV_FILE:-${AGENT_ENV_FILE}}"\nif [ -f "$f" ]; then cat "$f"; fi\n`;
}

/** `K=V` lines as Docker's env file has them (no quoting; blank and `#` lines skipped). */
export function parseEnvFile(text: string): Record<string, Secret> {
  const out: Record<string, Secret> = {};
  for (const line of text.split("\n")) {
    const i = line.indexOf("=");
    if (line.startsWith("#") || i <= 0) continue;
    out[line.slice(0, i)] = new Secret(line.slice(i + 1));
  }
  return out;
}

/**
 * A VM's instance (Hetzner, DigitalOcean): reached with OpenSSH at its address; the agent is the
 * Docker container cloud-init started, its environment the 0600 env file it runs with; held by
 * stopping that container; its DNS name an A (else AAAA) record of the public address.
 */
export function vmAccess(instance: AccessInstance): InstanceAccess {
  const readEnv: InstanceAccess["readEnv"] = async (run) => parseEnvFile(await run("reading the agent's environment", readEnvScript()));
  return {
    api: undefined,
    createsHeld: false,
    readEnv,
    // The file is rewritten whole and the container re-created from it (the agent restarts).
    async updateEnv(change, run, options) {
      const current = revealAll(await readEnv(run));
      const next: Record<string, string> = {};
      for (const [k, v] of Object.entries(current)) if (!change.unset.includes(k)) next[k] = v;
      Object.assign(next, revealAll(change.set));
      const after = envFileText(next);
      if (envFileText(current) === after) return false;
      await run("writing the agent's environment", deliveryScript(instance.image, options.port, Buffer.byteLength(after)), after);
      return true;
    },
    async hold(held, run) {
      await run(held ? "stopping the agent" : "starting the agent", `docker ${held ? "stop" : "start"} ${AGENT_CONTAINER} >/dev/null`);
    },
    route() {
      const address = instance.addresses.ipv4 ?? instance.addresses.ipv6;
      return address ? { address } : undefined;
    },
  };
}
