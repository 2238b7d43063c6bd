import { UsageError } from "../../lib/errors.js";

/**
 * The agent container on a VM, as cloud-init starts it at first boot and as secret delivery
 * re-creates it over SSH: one definition, so both runs give the container the same mounts,
 * ports, restart policy and env file.
 */
export const AGENT_CONTAINER = "automna-agent";
export const AGENT_DATA_DIR = "/var/lib/automna/data";
/** Where the agent's environment lives on a VM (0600, root). */
export const AGENT_ENV_FILE = "/etc/automna/agent.env";

/** `docker run` argv for the agent, reading its environment from `envFile`. */
export function agentRunArgs(o: { image: string; port: number; envFile: string }): string[] {
  const port = String(o.port);
  return [
    "docker", "run", "-d", "--name", AGENT_CONTAINER, "--restart", "always",
    "-v", `${AGENT_DATA_DIR}:/data`, "-p", `${port}:${port}`, "--env-file", o.envFile, o.image,
  ];
}

/**
 * Docker's `--env-file` has no quoting or continuation: a value is the rest of its line, so a
 * line break would end it early and start another variable. Refused before anything is made.
 * The message names the variable, never the value (it may be a secret).
 */
export function refuseLineBreaks(flag: string, values: Record<string, string>): void {
  for (const [key, value] of Object.entries(values)) {
    if (/[\r\n]/.test(value)) throw new UsageError(`${flag} ${key}: values cannot contain line breaks`, { hint: "an env file holds one variable per line" });
  }
}

/** The env file's content: `K=V` lines, plain ones first. */
export function envFileText(...groups: Record<string, string>[]): string {
  const lines = groups.flatMap((g) => Object.entries(g).map(([k, v]) => `${k}=${v}`));
  return lines.length ? `${lines.join("\n")}\n` : "";
}
