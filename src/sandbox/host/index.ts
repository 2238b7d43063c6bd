import { randomBytes } from "node:crypto";
import { existsSync, mkdirSync } from "node:fs";
import { chmod, mkdir, writeFile } from "node:fs/promises";
import { constants } from "node:os";
import { join } from "node:path";
import { Readable } from "node:stream";
import { shellQuote } from "../../lib/known-hosts.js";
import { SimAgent, type AgentOptions } from "./agent.js";
import type { LogEntry, LogQuery } from "./agent-log.js";
import { startControlServer, type ControlServer } from "./control-server.js";
import { consoleHostKeyBlock, loadOrCreateHostKey } from "./host-key.js";
import { DATA_MOUNT_POINTS, detectIsolation, fstabFor, type Isolation } from "./isolation.js";
import { HostNamespace } from "./namespace.js";
import { spawnCommand, terminate, type HostProcess } from "./process.js";
import { shimSource } from "./shim-source.js";
import { parseAuthorizedKeys, SshServer, type SessionRequest } from "./ssh-server.js";

export type { AgentOptions } from "./agent.js";
export type { LogEntry, LogQuery } from "./agent-log.js";
export type { Isolation } from "./isolation.js";

/** One simulated machine's SSH endpoint, agent and health check. */
export interface HostOptions {
  /** The provider's id or name; the hostname commands see (`[A-Za-z0-9-]`). */
  id: string;
  /** The host's own loopback address, e.g. 127.77.0.5. */
  address: string;
  /** Default 22 (needs root to bind); 0 picks a free port once, kept across stop/start. */
  sshPort?: number;
  /** Simulated one-way network latency of SSH connections (default 0). */
  sshLatencyMs?: number;
  /** The env file cloud-init writes at first boot (user-data `write_files`): `.host/agent.env`, 0600, unless it exists. */
  firstBootEnvFile?: string;
  /** The host's own directory: its data under `data/`, its machinery under `.host/`. */
  rootDir: string;
  /** OpenSSH public key lines registered for the machine through the provider API. */
  authorizedKeys: string[];
  /** A private key (OpenSSH or PEM); default: `.host/ssh_host_ed25519_key`, generated once. */
  hostKey?: string;
  /** The agent's health port (default 8080; 0 picks one; null: no health endpoint). */
  healthPort?: number | null;
  /** Default `/healthz`. */
  healthPath?: string;
  /** Boot without the agent: the machine runs another command (a held Fly machine). */
  held?: boolean;
  agent?: AgentOptions;
  /** "auto" (default) uses a mount namespace when it works here; "env" never does. */
  isolation?: "auto" | "env";
  /** The agent's clock (log timestamps, `--since 10m`); default the real one. */
  now?: () => Date;
  /** False while the host is cut off from the network (a provider outage); default always reachable. */
  reachable?: () => boolean;
  /** Background failures (a log append that failed, a bad authorized key); default: ignored. */
  onError?: (error: Error) => void;
}

export interface ExecResult {
  exitCode: number;
  /** The signal that ended the command, if one did. */
  signal?: string;
  stdout: Buffer;
  stderr: Buffer;
}

export interface ExecOptions {
  /** The whole input, or a stream the command reads as it comes (an exec API's stdin frames). */
  stdin?: Buffer | string | Readable;
  timeoutMs?: number;
  onOutput?: (stream: "stdout" | "stderr", chunk: Buffer) => void;
}

/** A started host. */
export interface HostHandle {
  readonly id: string;
  readonly address: string;
  /** The bound SSH port (the given one, or the one port 0 picked). */
  readonly sshPort: number;
  /** What cloud-init would publish: `ssh-ed25519 AAAA...` (no comment). */
  readonly hostKeyPublic: string;
  /** `SHA256:...`, as ssh-keygen -l prints it. */
  readonly hostKeyFingerprint: string;
  /** cloud-init's console block with the fingerprint and key, for a console-output endpoint. */
  readonly hostKeyConsole: string;
  readonly rootDir: string;
  /** `<rootDir>/data`: what the host calls /data. */
  readonly dataDir: string;
  readonly isolation: Isolation;
  /** Absolute paths commands can use for the data ("/data", "/var/lib/automna/data"), or none under "env". */
  readonly dataPaths: string[];
  /** The agent's health port while it runs. */
  healthPort(): number | undefined;
  /** Powered on (SSH listening). */
  running(): boolean;
  agentRunning(): boolean;
  /** Power off: SSH and health stop answering, sessions are hung up, the agent stops. */
  stop(): Promise<void>;
  /**
   * Power on: SSH listens again and the agent starts (restart policy `always`), unless `held`:
   * the machine runs something else (a Fly machine whose init was replaced), so no agent.
   */
  start(options?: { held?: boolean }): Promise<void>;
  /** The network went away: open SSH connections are reset (what runs on the host goes on). */
  dropConnections(): void;
  /** Replaces the keys allowed to log in (existing sessions stay). */
  setAuthorizedKeys(keys: string[]): void;
  /**
   * Runs a command as an SSH `exec` would, without SSH (for the exec API stand-ins). With
   * `onOutput`, output goes there as the command writes it (the result's stdout/stderr stay empty).
   */
  exec(command: string, options?: ExecOptions): Promise<ExecResult>;
  /** The agent's log entries (for the Fly logs API stand-in). */
  logs(query?: LogQuery): Promise<LogEntry[]>;
  /** New log entries as they are written; `onStopped` when the agent stops. Returns unsubscribe. */
  subscribeLogs(onEntry: (e: LogEntry) => void, onStopped?: () => void): () => void;
  /** Appends one agent log line now (tests, benches). */
  emitLog(message: string): Promise<LogEntry>;
  /** Power off for good and release everything; the directory stays. */
  close(): Promise<void>;
}

/** Starts a simulated host: SSH on `address:sshPort`, the agent (unless it was `docker stop`ped) and its health endpoint. */
export async function startHost(options: HostOptions): Promise<HostHandle> {
  const hostname = options.id.replace(/[^A-Za-z0-9-]/g, "-").replace(/^-+/, "").slice(0, 63) || "host";
  const now = options.now ?? (() => new Date());
  const onError = options.onError ?? (() => {});
  const rootDir = options.rootDir;
  const dataDir = join(rootDir, "data");
  const machineDir = join(rootDir, ".host");
  const binDir = join(machineDir, "bin");
  await mkdir(binDir, { recursive: true });
  await mkdir(dataDir, { recursive: true });
  const hostKey = await loadOrCreateHostKey(join(machineDir, "ssh_host_ed25519_key"), options.hostKey);
  if (options.firstBootEnvFile !== undefined) {
    // cloud-init runs write_files once, at the first boot: a file already there is the machine's own.
    await writeFile(join(machineDir, "agent.env"), options.firstBootEnvFile, { mode: 0o600, flag: "wx" }).catch((error: NodeJS.ErrnoException) => {
      if (error.code !== "EEXIST") throw error;
    });
  }
  const isolation: Isolation = options.isolation === "env" ? "env" : await detectIsolation();
  await writeShim(binDir);
  const fstab = join(machineDir, "fstab");
  await writeFile(fstab, fstabFor(dataDir));
  const namespace = isolation === "mount-namespace" ? new HostNamespace(fstab, dataDir, hostname) : undefined;

  const healthPortOption = options.healthPort === undefined ? 8080 : options.healthPort;
  const agent = new SimAgent({
    hostId: options.id,
    dataDir,
    logFile: join(machineDir, "agent.log"),
    stateFile: join(machineDir, "agent.json"),
    options: options.agent ?? {},
    health: healthPortOption === null ? null : { address: options.address, port: healthPortOption, path: options.healthPath ?? "/healthz", reachable: options.reachable },
    now,
    onError,
  });
  const token = randomBytes(16).toString("hex");
  let control: ControlServer | undefined;

  const env = (request: SessionRequest): Record<string, string> => ({
    // A machine's own PATH, not the sandbox process's (which may hold dev tool directories).
    PATH: `${binDir}:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin`,
    HOME: rootDir,
    PWD: rootDir,
    USER: request.username,
    LOGNAME: request.username,
    SHELL: "/bin/sh",
    ...(request.pty ? { TERM: request.pty.term || "xterm" } : {}),
    ...request.env,
    SSH_CONNECTION: request.connection,
    SSH_CLIENT: request.connection.split(" ").filter((_, i) => i !== 2).join(" "),
    AUTOMNA_DATA: dataDir,
    AUTOMNA_ISOLATION: isolation,
    AUTOMNA_HOST_ID: options.id,
    AUTOMNA_HOST_NAME: hostname,
    AUTOMNA_HOST_CONTROL: control?.url ?? "",
    AUTOMNA_HOST_TOKEN: token,
    // Where the agent's log lives, so `docker logs -t` of the whole log reads it like docker's
    // json-file driver does, without a round trip through the sandbox process.
    AUTOMNA_HOST_LOG: join(machineDir, "agent.log"),
    // The agent's env file (/etc/automna/agent.env on a real VM) in the host's own directory:
    // secret delivery writes `${AUTOMNA_ENV_FILE:-/etc/automna/agent.env}`, so nothing is
    // written outside the sandbox, in either isolation mode.
    AUTOMNA_ENV_FILE: join(machineDir, "agent.env"),
  });
  const run = (request: SessionRequest): Promise<HostProcess> => {
    // Someone may have removed the data directory (a restore); a bind mount needs it to exist.
    mkdirSync(dataDir, { recursive: true });
    return spawnCommand({ command: request.command, pty: request.pty, env: env(request), cwd: rootDir, isolation, fstab, namespace });
  };
  const ssh = new SshServer({ hostKey: hostKey.privateKey, address: options.address, port: options.sshPort ?? 22, ident: "OpenSSH_9.2p1 automna-sandbox", run, onError, latencyMs: options.sshLatencyMs, reachable: options.reachable });
  const setAuthorizedKeys = (lines: string[]) => {
    const { keys, invalid } = parseAuthorizedKeys(lines);
    for (const line of invalid) onError(new Error(`host ${options.id}: not a public key, ignored: ${line.slice(0, 40)}`));
    ssh.setAuthorizedKeys(keys);
  };
  setAuthorizedKeys(options.authorizedKeys);

  let on = false;
  const powerOn = async (afterPowerCycle: boolean, held = false) => {
    if (on) return;
    control = await startControlServer({ agent, hostId: options.id, address: options.address, token, healthPort: () => healthPortOption === null ? null : (agent.healthPort ?? healthPortOption), now });
    try {
      await ssh.listen();
      await agent.boot(afterPowerCycle, held);
    } catch (error) {
      await ssh.close();
      await control.close();
      throw error;
    }
    on = true;
  };
  const powerOff = async () => {
    if (!on) return;
    on = false;
    await ssh.close();
    namespace?.close();
    await agent.stop(false);
    await control?.close();
  };
  await powerOn(false, options.held === true);

  return {
    id: options.id,
    address: options.address,
    get sshPort() {
      return ssh.port;
    },
    hostKeyPublic: hostKey.publicLine,
    hostKeyFingerprint: hostKey.fingerprint,
    hostKeyConsole: consoleHostKeyBlock(hostKey, hostname),
    rootDir,
    dataDir,
    isolation,
    dataPaths: isolation === "mount-namespace" ? [...DATA_MOUNT_POINTS] : [],
    healthPort: () => agent.healthPort,
    running: () => on,
    agentRunning: () => agent.running,
    stop: powerOff,
    start: (opts = {}) => powerOn(true, opts.held === true),
    setAuthorizedKeys,
    dropConnections: () => ssh.dropConnections(),
    exec: async (command, opts = {}) => execLocal(await run({ username: "root", command, env: {}, connection: `127.0.0.1 0 ${options.address} 0` }), opts),
    logs: (query = {}) => agent.readLogs(query),
    subscribeLogs: (onEntry, onStopped = () => {}) => agent.subscribe(onEntry, onStopped),
    emitLog: (message) => agent.log(message),
    close: powerOff,
  };
}

/** The `docker` on the host's PATH: a two-line script running the shim program with this node. */
async function writeShim(binDir: string): Promise<void> {
  const program = join(binDir, "docker-cli.mjs");
  await writeFile(program, await shimSource());
  // `docker logs -t automna-agent` (the whole log, how automna reads it) is the files as they are:
  // plain cat, as docker's json-file driver streams its file, without starting node.
  const script = [
    // bash where the machine has it: its /dev/tcp makes `docker stop|start` below one HTTP call
    // without a client process (curl costs ~20 ms of CPU per call here, bash's own ~5 ms).
    existsSync("/bin/bash") ? "#!/bin/bash" : "#!/bin/sh",
    'if [ "$#" = 3 ] && [ "$1" = logs ] && { [ "$2" = -t ] || [ "$2" = --timestamps ]; } && [ "$3" = automna-agent ] && [ -n "$AUTOMNA_HOST_LOG" ]; then',
    '  [ -f "$AUTOMNA_HOST_LOG.1" ] && cat "$AUTOMNA_HOST_LOG.1"',
    '  [ -f "$AUTOMNA_HOST_LOG" ] && exec cat "$AUTOMNA_HOST_LOG"',
    "  exit 0",
    "fi",
    // `docker stop|start automna-agent` (what automna runs to freeze and start an agent) is one
    // call to the daemon, as docker's own CLI makes it: not a node start-up each. The token goes
    // by printf (a builtin) or curl's config on stdin, never on a command line.
    'if [ "$#" = 2 ] && { [ "$1" = stop ] || [ "$1" = start ]; } && [ "$2" = automna-agent ] && [ -n "$AUTOMNA_HOST_CONTROL" ]; then',
    "  code=",
    '  if [ -n "$BASH_VERSION" ]; then',
    '    code=$(hp=${AUTOMNA_HOST_CONTROL#http://}; exec 3<>"/dev/tcp/${hp%:*}/${hp##*:}" \\',
    `      && printf 'POST /containers/automna-agent/%s HTTP/1.1\\r\\nHost: %s\\r\\nx-automna-host-token: %s\\r\\nContent-Length: 0\\r\\nConnection: close\\r\\n\\r\\n' "$1" "$hp" "$AUTOMNA_HOST_TOKEN" >&3 \\`,
    '      && read -r _ status _ <&3 && echo "$status") 2>/dev/null',
    "  elif command -v curl >/dev/null 2>&1; then",
    `    code=$(printf 'header = "x-automna-host-token: %s"\\n' "$AUTOMNA_HOST_TOKEN" | curl -s -o /dev/null -w '%{http_code}' -X POST -K - "$AUTOMNA_HOST_CONTROL/containers/automna-agent/$1") || code=000`,
    "  fi",
    '  case "$code" in',
    '    204|304) echo automna-agent; exit 0 ;;',
    '    404) echo "Error response from daemon: No such container: automna-agent" >&2; exit 1 ;;',
    "  esac",
    "fi",
    // `--` first: node scans every argument for `--env-file` (even the program's own, such as
    // `docker run --env-file F`) and fails when F is missing unless its options end before the program.
    `exec ${shellQuote(process.execPath)} -- ${shellQuote(program)} "$@"`,
    "",
  ].join("\n");
  await writeFile(join(binDir, "docker"), script, { mode: 0o755 });
  await chmod(join(binDir, "docker"), 0o755);
  await writeCloudInit(binDir);
}

/**
 * The host's `cloud-init`: a simulated machine has finished its first boot, so `status` reports
 * done at once. Without it, a dev machine that has Debian's cloud-init installed (for `cloud-init
 * schema`) would answer `cloud-init status --wait` from its own never-booted state: forever.
 */
async function writeCloudInit(binDir: string): Promise<void> {
  const script = [
    "#!/bin/sh",
    'case "$1" in',
    '  status) echo "status: done"; exit 0 ;;',
    '  *) echo "cloud-init: only status is simulated on sandbox hosts" >&2; exit 1 ;;',
    "esac",
    "",
  ].join("\n");
  await writeFile(join(binDir, "cloud-init"), script, { mode: 0o755 });
  await chmod(join(binDir, "cloud-init"), 0o755);
}
function execLocal(child: HostProcess, opts: ExecOptions): Promise<ExecResult> {
  return new Promise((resolve) => {
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    const hook = opts.onOutput;
    child.stdout.on("data", (c: Buffer) => (hook ? hook("stdout", c) : out.push(c)));
    child.stderr.on("data", (c: Buffer) => (hook ? hook("stderr", c) : err.push(c)));
    if (opts.stdin instanceof Readable) opts.stdin.pipe(child.stdin);
    else child.stdin.end(opts.stdin ?? "");
    const timer = opts.timeoutMs ? setTimeout(() => terminate(child, 500), opts.timeoutMs) : undefined;
    child.on("close", (code, signal) => {
      if (timer) clearTimeout(timer);
      resolve({ exitCode: code ?? 128 + (signal ? (constants.signals[signal] ?? 0) : 0), ...(signal ? { signal } : {}), stdout: Buffer.concat(out), stderr: Buffer.concat(err) });
    });
  });
}
