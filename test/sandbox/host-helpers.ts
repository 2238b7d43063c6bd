import { execFileSync, spawn, type ChildProcess } from "node:child_process";
import { mkdtempSync, readdirSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { pinHostKeys, sshArgs, type SshArgsOptions } from "../../src/lib/known-hosts.js";
import { startHost, type HostHandle, type HostOptions } from "../../src/sandbox/host/index.js";

/** A scratch directory, a client key pair made by the real ssh-keygen, and a known_hosts path. */
export interface Workspace {
  dir: string;
  keyFile: string;
  publicKey: string;
  knownHosts: string;
  cleanup(): void;
}

export function makeWorkspace(): Workspace {
  const dir = mkdtempSync(join(tmpdir(), "automna-host-"));
  const keyFile = join(dir, "id_ed25519");
  execFileSync("ssh-keygen", ["-q", "-t", "ed25519", "-N", "", "-C", "test@automna", "-f", keyFile]);
  return {
    dir,
    keyFile,
    publicKey: readFileSync(`${keyFile}.pub`, "utf8").trim(),
    knownHosts: join(dir, "known_hosts"),
    cleanup: () => rmSync(dir, { recursive: true, force: true }),
  };
}

/** A host for tests: fast agent, ephemeral ports, its key pinned in the workspace's known_hosts. */
export async function testHost(ws: Workspace, name: string, address: string, extra: Partial<HostOptions> = {}): Promise<HostHandle> {
  const host = await startHost({
    id: name,
    address,
    sshPort: 0,
    healthPort: 0,
    rootDir: join(ws.dir, name),
    authorizedKeys: [ws.publicKey],
    agent: { logIntervalMs: 40, dataWriteIntervalMs: 100, seedBytes: 16 * 1024 },
    ...extra,
  });
  await pinHostKeys(ws.knownHosts, { address: host.address, port: host.sshPort, keys: [host.hostKeyPublic] });
  return host;
}

export interface SshResult {
  code: number | null;
  stdout: Buffer;
  stderr: string;
}

export function sshArgv(ws: Workspace, host: HostHandle, command?: string | string[], extra: Partial<SshArgsOptions> = {}): string[] {
  return sshArgs({ address: host.address, port: host.sshPort, identityFile: ws.keyFile, knownHostsFile: ws.knownHosts, configFile: "/dev/null", ...(command === undefined ? {} : { command }), ...extra });
}

/** Runs the real /usr/bin/ssh and collects its output as bytes. */
export function ssh(ws: Workspace, host: HostHandle, command?: string | string[], opts: { input?: Buffer | string; extra?: Partial<SshArgsOptions> } = {}): Promise<SshResult> {
  const child = spawn("ssh", sshArgv(ws, host, command, opts.extra), { stdio: ["pipe", "pipe", "pipe"] });
  child.stdin.end(opts.input ?? "");
  const t0 = Date.now();
  return collect(child).then((r) => {
    if (process.env.SSH_TIMING) process.stderr.write(`${Date.now() - t0}ms ${String(command)}\n`);
    return r;
  });
}

export function collect(child: ChildProcess): Promise<SshResult> {
  return new Promise((resolve, reject) => {
    const out: Buffer[] = [];
    let err = "";
    child.stdout?.on("data", (c: Buffer) => out.push(c));
    child.stderr?.on("data", (c: Buffer) => (err += c.toString()));
    child.on("error", reject);
    child.on("close", (code) => resolve({ code, stdout: Buffer.concat(out), stderr: err }));
  });
}

export { until } from "../helpers/budget.js";

/** Pids of processes running for a host's sessions (found by the host id in their environment). */
export function hostProcesses(hostId: string): number[] {
  const pids: number[] = [];
  for (const entry of readdirSync("/proc")) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      if (readFileSync(`/proc/${entry}/environ`, "latin1").split("\0").includes(`AUTOMNA_HOST_ID=${hostId}`)) pids.push(Number(entry));
    } catch {
      // exited meanwhile, or not ours to read
    }
  }
  return pids;
}
