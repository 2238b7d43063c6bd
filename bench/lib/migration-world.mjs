// Shared set-up for the migration benchmarks (migrate, datapath, failover): a sandbox in this
// process at the rate scale the benches use, a client SSH key, and the environment of a home
// that drives the built binary against it. Import after `npm run build`.
import { execFileSync } from "node:child_process";
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

export const SCALE = 100;

/** Starts the sandbox in a fresh directory; `home(name)` gives a home's environment (default: the directory itself). */
export async function migrationWorld({ name, sshPort, agent, sshLatencyMs = 0, addressBase }) {
  const { startSandbox } = await import("../../dist/src/sandbox/index.js");
  const dir = mkdtempSync(join(tmpdir(), `automna-bench-${name}-`));
  const sandbox = await startSandbox({
    dir: join(dir, "world"), rateLimitScale: SCALE, actionDelayMs: 50, sshPort, sshLatencyMs, agent,
    cloudflareRateLimit: { limit: 1200, windowMs: 300_000 / SCALE }, ...(addressBase ? { addressBase } : {}),
  });
  const key = join(dir, "id_ed25519");
  execFileSync("ssh-keygen", ["-q", "-t", "ed25519", "-N", "", "-f", key]);
  const home = (sub = "") => ({
    // Its own short directory for the shared SSH connections' sockets (not the user's /tmp/automna-<uid>).
    PATH: process.env.PATH, HOME: dir, XDG_RUNTIME_DIR: join(dir, "r"), USER: "bench", XDG_CONFIG_HOME: join(dir, sub, "config"), XDG_DATA_HOME: join(dir, sub, "data"), NO_COLOR: "1", ...sandbox.env(),
    AUTOMNA_RATE_SCALE: String(SCALE), AUTOMNA_POLL_MS: "50", AUTOMNA_IMAGE: "ghcr.io/automna/agent:1", AUTOMNA_SSH_PORT: String(sshPort),
    AUTOMNA_SSH_PUBLIC_KEY: `${key}.pub`, AUTOMNA_SSH_IDENTITY_FILE: key, AUTOMNA_HEALTH_CHECKS: "3", AUTOMNA_HEALTH_INTERVAL: "200ms",
    ...(process.env.AUTOMNA_SSH_OPTIONS ? { AUTOMNA_SSH_OPTIONS: process.env.AUTOMNA_SSH_OPTIONS } : {}),
  });
  return { dir, sandbox, key, home };
}
