import type { HostKeyPair } from "../../access/host-key-gen.js";
import { UsageError } from "../../lib/errors.js";
import { AGENT_DATA_DIR, AGENT_ENV_FILE, agentRunArgs, envFileText, refuseLineBreaks } from "./agent-container.js";

/**
 * cloud-init user-data for a VM that runs one user's agent: install Docker, keep the agent's data
 * under /var/lib/automna/data (bind-mounted at /data), and run the container `automna-agent`
 * with restart always, so it comes back after a crash or a reboot.
 *
 * Only plain `--env` values go here: user-data is readable from the provider's metadata service
 * and console, so secrets never do (they travel over SSH to the same 0600 file after boot:
 * src/access/deliver-secrets.ts).
 */
export interface AgentUserData {
  user: string;
  opId: string;
  image: string;
  env: Record<string, string>;
  health: { port: number; path: string };
  /**
   * The SSH host key automna made for this machine: cloud-init's `ssh_keys` installs it and no
   * other host keys are generated, so the key automna pinned is the only one the machine shows.
   */
  hostKey?: HostKeyPair | undefined;
}

/** YAML accepts JSON strings, which quote anything safely. */
const q = (s: string): string => JSON.stringify(s);

/**
 * The image's own host keys are deleted and automna's ed25519 key installed. cloud-init generates
 * keys only when `ssh_keys` is absent, and skips a type whose key file exists, so naming ed25519
 * (the schema wants at least one type; `[]` is invalid) still leaves the pinned key the only one.
 */
function hostKeyLines(key: HostKeyPair | undefined): string[] {
  if (!key) return [];
  return [
    "ssh_deletekeys: true",
    "ssh_genkeytypes: [ed25519]",
    "ssh_keys:",
    `  ed25519_private: ${q(key.privateKey.reveal())}`,
    `  ed25519_public: ${q(key.publicKey)}`,
  ];
}

export function renderUserData(spec: AgentUserData, maxBytes: number): string {
  refuseLineBreaks("--env", spec.env);
  const run = agentRunArgs({ image: spec.image, port: spec.health.port, envFile: AGENT_ENV_FILE });
  const lines = [
    "#cloud-config",
    `# automna agent for ${spec.user} (operation ${spec.opId})`,
    "package_update: true",
    "packages:",
    "  - docker.io",
    ...hostKeyLines(spec.hostKey),
    "write_files:",
    `  - path: ${AGENT_ENV_FILE}`,
    '    permissions: "0600"',
    "    owner: root:root",
    `    content: ${q(envFileText(spec.env))}`,
    "runcmd:",
    `  - [${["systemctl", "enable", "--now", "docker"].map(q).join(", ")}]`,
    `  - [${["mkdir", "-p", AGENT_DATA_DIR].map(q).join(", ")}]`,
    `  - [${run.map(q).join(", ")}]`,
    "",
  ];
  const text = lines.join("\n");
  const bytes = Buffer.byteLength(text);
  if (bytes > maxBytes) {
    throw new UsageError(`the cloud-init user-data would be ${bytes} bytes, over the provider's limit of ${maxBytes}`, { hint: "pass fewer or shorter --env values" });
  }
  return text;
}
