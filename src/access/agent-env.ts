import { createHash } from "node:crypto";
import { revealAll, Secret } from "../lib/redact.js";
import type { Provider } from "../providers/types.js";
import { AGENT_ENV_FILE, envFileText, refuseLineBreaks } from "../providers/vm/agent-container.js";
import type { Instance } from "../state/types.js";
import { deliveryScript } from "./deliver-secrets.js";

/**
 * The agent's environment (its `--env` values and secrets: API keys, bot tokens), read and changed
 * wherever it lives: on a VM the 0600 env file its container is run with (over SSH), on Fly the
 * machine's env and the app's secrets (the provider's `agentEnv`/`updateAgentEnv`). Values pass
 * through this process's memory only, as Secrets (redacted from any output).
 */
export interface EnvChange {
  set: Record<string, Secret>;
  unset: string[];
}

/** Runs a script on an instance (stdin optional) and returns its stdout; non-zero exits throw. */
export type ScriptRunner = (instance: Instance, what: string, script: string, stdin?: string) => Promise<string>;

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

export async function readAgentEnv(provider: Provider, instance: Instance, run: ScriptRunner): Promise<Record<string, Secret>> {
  if (provider.agentEnv) return provider.agentEnv({ resources: instance.resources });
  return parseEnvFile(await run(instance, "reading the agent's environment", readEnvScript()));
}

/**
 * Applies a change. On a VM the file is rewritten whole and the container re-created from it (the
 * agent restarts); on Fly, with `restart`, the machine is updated so it starts with the new
 * secrets. Returns whether anything changed (nothing changed: nothing restarted).
 */
export async function updateAgentEnv(provider: Provider, instance: Instance, change: EnvChange, run: ScriptRunner, o: { port: number; restart: boolean }): Promise<boolean> {
  refuseLineBreaks("value of", revealAll(change.set));
  if (provider.updateAgentEnv) return provider.updateAgentEnv({ resources: instance.resources }, change, o.restart);
  const current = revealAll(parseEnvFile(await run(instance, "reading the agent's environment", readEnvScript())));
  const next: Record<string, string> = {};
  for (const [k, v] of Object.entries(current)) if (!change.unset.includes(k)) next[k] = v;
  Object.assign(next, revealAll(change.set));
  const after = envFileText(next);
  if (envFileText(current) === after) return false;
  await run(instance, "writing the agent's environment", deliveryScript(instance.image, o.port, Buffer.byteLength(after)), after);
  return true;
}

/** A short digest of a value: lets operators compare values (as `fly secrets list` does) without showing them. */
export function valueDigest(value: Secret): string {
  return createHash("sha256").update(value.reveal()).digest("hex").slice(0, 12);
}

/**
 * A digest of a whole environment (its env file with the names sorted): a journal or report can
 * say whether two environments are the same without holding any value.
 */
export function envDigest(values: Record<string, Secret>): string {
  const names = Object.keys(values).sort();
  const text = envFileText(Object.fromEntries(names.map((n) => [n, values[n]!.reveal()])));
  return createHash("sha256").update(text).digest("hex").slice(0, 16);
}
