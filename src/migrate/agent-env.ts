import { createHash } from "node:crypto";
import { deliveryScript } from "../access/deliver-secrets.js";
import { Secret } from "../lib/redact.js";
import { AGENT_ENV_FILE, envFileText } from "../providers/vm/agent-container.js";
import type { Instance } from "../state/types.js";
import { runScript } from "./host.js";
import type { Run } from "./run.js";

/**
 * The agent's environment (its `--env` values and secrets: API keys, bot tokens) moves with it,
 * or the migrated agent would start without them. Values pass through this process's memory
 * only: never into the journal (names and a digest go there), a log or a command line.
 */
export async function carryAgentEnv(r: Run): Promise<Record<string, unknown>> {
  const values = await readAgentEnv(r, await r.source());
  await writeAgentEnv(r, await r.target(), values);
  const names = Object.keys(values).sort();
  const text = envFileText(Object.fromEntries(names.map((n) => [n, values[n]!.reveal()])));
  return {
    names,
    digest: createHash("sha256").update(text).digest("hex").slice(0, 16),
    summary: names.length ? `${names.length} variable${names.length === 1 ? "" : "s"} carried (${names.join(", ")})` : "no variables to carry",
  };
}

/** On a VM: the env file cloud-init and secret delivery wrote (none yet: nothing to carry). */
function readScript(): string {
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

async function readAgentEnv(r: Run, source: Instance): Promise<Record<string, Secret>> {
  if (r.from.agentEnv) {
    await r.j.fence();
    return r.from.agentEnv({ resources: source.resources });
  }
  return parseEnvFile(await runScript(r.host, source, "reading the agent's environment", readScript(), undefined, 120_000));
}

async function writeAgentEnv(r: Run, target: Instance, values: Record<string, Secret>): Promise<void> {
  if (Object.keys(values).length === 0) return;
  if (r.to.setAgentEnv) {
    await r.j.fence();
    return r.to.setAgentEnv({ resources: target.resources }, values);
  }
  // The same script as provisioning's secret delivery: 0600 file, container re-created from it.
  const text = envFileText(Object.fromEntries(Object.entries(values).map(([k, v]) => [k, v.reveal()])));
  await runScript(r.host, target, "writing the agent's environment", deliveryScript(r.params.image, r.deps.health.port), text, 600_000);
}
