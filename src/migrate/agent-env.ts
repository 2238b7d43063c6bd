import { envDigest, readAgentEnv, updateAgentEnv, type ScriptRunner } from "../access/agent-env.js";
import { runScript } from "./host.js";
import type { Run } from "./run.js";

/**
 * The agent's environment (its `--env` values and secrets) moves with it, or the migrated agent
 * would start without its API keys. The journal gets names and a digest, never values.
 */
export async function carryAgentEnv(r: Run): Promise<Record<string, unknown>> {
  // Every remote step is fenced: a holder that lost the user's lease changes nothing.
  const run: ScriptRunner = (instance, what, script, stdin) => runScript(r.host, instance, what, script, stdin, 600_000);
  await r.j.fence();
  const values = await readAgentEnv(r.from, await r.source(), run);
  // The target's agent is started (its container re-created) by the write on a VM; the hold stops
  // it next. A Fly target was created held and gets the secrets when start-target releases it.
  await r.j.fence();
  await updateAgentEnv(r.to, await r.target(), { set: values, unset: [] }, run, { port: r.deps.health.port, restart: false });
  const names = Object.keys(values).sort();
  return {
    names,
    digest: envDigest(values),
    summary: names.length ? `${names.length} variable${names.length === 1 ? "" : "s"} carried (${names.join(", ")})` : "no variables to carry",
  };
}
