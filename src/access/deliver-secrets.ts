import type { Context } from "../context.js";
import { AutomnaError } from "../lib/errors.js";
import { shellQuote } from "../lib/known-hosts.js";
import { sleep } from "../lib/rate-budget.js";
import { revealAll, type Secret } from "../lib/redact.js";
import { AGENT_CONTAINER, AGENT_ENV_FILE, agentRunArgs, envFileText } from "../providers/vm/agent-container.js";
import type { Instance } from "../state/types.js";
import { runOnInstance, type RunOnInstanceResult } from "./run.js";
import { lastErrorLine, RemoteAccessError } from "./ssh.js";

/**
 * Secrets for a VM's agent travel over SSH after boot (never in user-data, which the provider's
 * metadata service and console show, and never on a command line or in ssh's environment): one
 * fixed script whose only input is stdin writes the env file and re-creates the container.
 */
export interface SecretDelivery {
  image: string;
  /** The agent's port (the health port), published as cloud-init does. */
  port: number;
  /** Plain `--env` values: the file is rewritten whole, so they are written again too. */
  env: Record<string, string>;
  secrets: Record<string, Secret>;
  /** How long a machine may take to accept SSH (real cloud-init takes a while after "running"). */
  timeoutMs: number;
  step(text: string): void;
}

/** ssh failures that mean "not up yet"; a wrong host key or a refused login is never retried. */
const NOT_UP_YET = new Set(["unreachable", "timeout"]);
const FIRST_PAUSE_MS = 1000;
const MAX_PAUSE_MS = 15_000;
const ENV_FILE_WORD = "\0env-file";

/**
 * The script run on the machine. It waits for cloud-init (which installs Docker and starts the
 * first container), writes the env file atomically as 0600, then replaces the container: Docker
 * reads `--env-file` at `docker run`, so a restart would keep the old environment.
 * `AUTOMNA_ENV_FILE` lets a sandbox host keep the file in its own directory.
 */
export function deliveryScript(image: string, port: number, bytes: number): string {
  const run = agentRunArgs({ image, port, envFile: ENV_FILE_WORD }).map((w) => (w === ENV_FILE_WORD ? '"$f"' : shellQuote(w))).join(" ");
  return [
    "set -eu",
    // An operator's Ctrl-C or a dropped connection (SIGHUP) must not stop it between the
    // container's removal and its re-creation, which would leave the user with no agent.
    "trap '' HUP INT TERM PIPE",
    "command -v cloud-init >/dev/null 2>&1 && cloud-init status --wait >/dev/null 2>&1 || true",
    `f="\${AUTOMNA_ENV_FILE:-${AGENT_ENV_FILE}}"`,
    "umask 077",
    'mkdir -p "$(dirname "$f")"',
    // A leftover from an interrupted run may have other permissions: start from a new file.
    'rm -f "$f.new"',
    'cat > "$f.new"',
    // A connection lost mid-way ends stdin early: a partial file never replaces the whole one.
    `[ "$(wc -c < "$f.new")" -eq ${bytes} ] || { rm -f "$f.new"; echo "the environment arrived incomplete; nothing changed" >&2; exit 65; }`,
    'mv -f "$f.new" "$f"',
    `docker rm -f ${AGENT_CONTAINER} >/dev/null 2>&1 || true`,
    `${run} >/dev/null`,
    "",
  ].join("\n");
}

/** The operator's environment without the variables the secrets were read from. */
export function withoutSecrets(env: NodeJS.ProcessEnv, names: string[]): NodeJS.ProcessEnv {
  const out = { ...env };
  for (const name of names) delete out[name];
  return out;
}

/**
 * Delivers the secrets to a running VM, retrying while it does not accept SSH yet, with backoff,
 * up to `timeoutMs`. Idempotent: a resumed provision runs it again.
 */
export async function deliverSecrets(ctx: Context, instance: Instance, d: SecretDelivery): Promise<void> {
  const stdin = Buffer.from(envFileText(d.env, revealAll(d.secrets)));
  const script = deliveryScript(d.image, d.port, stdin.length);
  const env = withoutSecrets(ctx.env, Object.keys(d.secrets));
  const started = Date.now();
  const deadline = started + d.timeoutMs;
  d.step("delivering secrets");
  for (let pause = FIRST_PAUSE_MS; ; pause = Math.min(pause * 2, MAX_PAUSE_MS)) {
    let result: RunOnInstanceResult;
    try {
      result = await runOnInstance(ctx, instance, script, { stdin, env, timeoutMs: Math.max(deadline - Date.now(), 30_000) });
    } catch (error) {
      if (!(error instanceof RemoteAccessError) || !NOT_UP_YET.has(error.code)) throw error;
      if (Date.now() + pause > deadline) {
        throw new RemoteAccessError(`could not deliver secrets within ${Math.round((Date.now() - started) / 1000)} s: ${error.message}`, {
          code: error.code, ...(error.hint ? { hint: `${error.hint}; re-run automna provision ${instance.user} to try again (ssh.bootTimeout sets the wait)` } : {}),
        });
      }
      d.step(`delivering secrets: SSH not answering yet, again in ${pause / 1000} s`);
      await sleep(pause, ctx.signal);
      continue;
    }
    if (result.exitCode === 0) return;
    throw new AutomnaError(`writing the secrets on ${instance.user}'s instance failed: ${lastErrorLine(result)}`, {
      code: "secrets_failed", hint: `the machine is up; automna ssh ${instance.user} to look, then re-run automna provision ${instance.user}`,
    });
  }
}
