// Shared set-up for the access benchmarks: a sandbox in this process (its hosts run here, as in
// `automna sandbox up`), a throwaway home with a client key, and users provisioned through the
// built binary. Import after `npm run build`.
import { execFileSync, spawn } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { cpus, loadavg, tmpdir } from "node:os";
import { join } from "node:path";
import { median } from "./lib/run.mjs";
export { median };

export const BIN = new URL("../dist/bin/automna.js", import.meta.url).pathname;
const { startSandbox } = await import("../dist/src/sandbox/index.js");
const { sshArgs } = await import("../dist/src/lib/known-hosts.js");

export async function accessWorld({ sshPort = 22030, agent = {}, sshLatencyMs = 0 } = {}) {
  const dir = mkdtempSync(join(tmpdir(), "automna-bench-access-"));
  const sb = await startSandbox({ dir: join(dir, "world"), actionDelayMs: 10, rateLimits: false, sshPort, sshLatencyMs, agent: { seedBytes: 4096, ...agent } });
  const key = join(dir, "id_ed25519");
  execFileSync("ssh-keygen", ["-q", "-t", "ed25519", "-N", "", "-f", key]);
  const env = {
    PATH: process.env.PATH, HOME: dir, XDG_CONFIG_HOME: join(dir, "config"), XDG_DATA_HOME: join(dir, "data"), NO_COLOR: "1", ...sb.env(),
    AUTOMNA_POLL_MS: "10", AUTOMNA_IMAGE: "ghcr.io/automna/agent:1",
    AUTOMNA_SSH_PORT: String(sshPort), AUTOMNA_SSH_PUBLIC_KEY: `${key}.pub`, AUTOMNA_SSH_IDENTITY_FILE: key,
  };
  const knownHosts = join(dir, "data", "automna", "known_hosts");
  return {
    sb, env, key, knownHosts,
    /** Provisions users on Hetzner through `automna provision`; returns their instances from state. */
    async provision(users) {
      const out = await run(process.execPath, [BIN, "provision", "--from-file", "-", "--provider", "hetzner", "--region", "fsn1", "--size", "cx22", "--concurrency", "32", "--json", "--quiet"], { env, input: users.join("\n") });
      if (out.code !== 0) throw new Error(`provision: ${out.stderr}`);
      await sb.settled();
      const world = await (await globalThis.fetch(`${sb.urls.admin}/world`)).json();
      if (world.warnings.length) throw new Error(`sandbox: ${world.warnings.join("; ")}`);
      const list = await run(process.execPath, [BIN, "list", "-o", "json"], { env });
      return JSON.parse(list.stdout);
    },
    /** The ssh argv automna itself uses for an address (same known_hosts, key, port, options). */
    sshArgv(address, command) {
      return sshArgs({ address, port: sshPort, identityFile: key, knownHostsFile: knownHosts, extraOptions: ["LogLevel=ERROR"], command });
    },
    async close() {
      await sb.close();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

/** Runs a program to its end; resolves with exit code, output and wall time in ms. */
export function run(cmd, args, { env, input } = {}) {
  return new Promise((resolve, reject) => {
    const t0 = process.hrtime.bigint();
    const child = spawn(cmd, args, { env, stdio: [input === undefined ? "ignore" : "pipe", "pipe", "pipe"] });
    let stdout = "";
    let stderr = "";
    child.stdout.on("data", (c) => (stdout += c));
    child.stderr.on("data", (c) => (stderr += c));
    if (input !== undefined) child.stdin.end(input);
    child.on("error", reject);
    child.on("close", (code) => resolve({ code, stdout, stderr, ms: Number(process.hrtime.bigint() - t0) / 1e6 }));
  });
}


export function machine() {
  return `${cpus().length} x ${cpus()[0]?.model}, node ${process.version}, load average ${loadavg().map((l) => l.toFixed(2)).join(" ")}`;
}


