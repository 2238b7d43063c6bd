import { createHash } from "node:crypto";
import { revealAll, Secret } from "../lib/redact.js";
import type { AgentEnvChange, Provider } from "../providers/types.js";
import { envFileText, refuseLineBreaks } from "../providers/vm/agent-container.js";
import type { Instance } from "../state/types.js";

/**
 * The agent's environment (its `--env` values and secrets: API keys, bot tokens), read and changed
 * wherever the provider keeps it (provider.access()): on a VM the 0600 env file its container is
 * run with (over SSH), on Fly the machine's env and the app's secrets. Values pass
 * through this process's memory only, as Secrets (redacted from any output).
 */
export type EnvChange = AgentEnvChange;

/** Runs a script on an instance (stdin optional) and returns its stdout; non-zero exits throw. */
export type ScriptRunner = (instance: Instance, what: string, script: string, stdin?: string) => Promise<string>;

export async function readAgentEnv(provider: Provider, instance: Instance, run: ScriptRunner): Promise<Record<string, Secret>> {
  return provider.access(instance).readEnv((what, script, stdin) => run(instance, what, script, stdin));
}

/**
 * Applies a change where the provider keeps the environment (provider.access().updateEnv); with
 * `restart` the agent restarts with it. Returns whether anything changed (nothing changed:
 * nothing restarted).
 */
export async function updateAgentEnv(provider: Provider, instance: Instance, change: EnvChange, run: ScriptRunner, o: { port: number; restart: boolean }): Promise<boolean> {
  refuseLineBreaks("value of", revealAll(change.set));
  return provider.access(instance).updateEnv(change, (what, script, stdin) => run(instance, what, script, stdin), o);
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
