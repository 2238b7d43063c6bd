import type { Readable, Writable } from "node:stream";
import { AutomnaError, ExitCode, isAbortError } from "../lib/errors.js";
import { hostKeyFailure, hostPattern, sshArgs } from "../lib/known-hosts.js";
import type { SshSettings } from "./target.js";

/** A failure to reach an instance (not a command that ran and failed): exit 1 with what to check. */
export class RemoteAccessError extends AutomnaError {}

/** A remote command stopped by its --timeout: code `timeout`, exit 124 as timeout(1) exits. */
export function timedOut(what: string, timeoutMs: number | undefined): RemoteAccessError {
  return new RemoteAccessError(`the command on ${what} did not finish within ${(timeoutMs ?? 0) / 1000} s and was stopped (--timeout)`, {
    code: "timeout", exitCode: ExitCode.TIMED_OUT, hint: "give it longer with --timeout, e.g. --timeout 10m",
  });
}

/**
 * Why a remote command failed, in one line for an error message: the last line of its stderr
 * (where a script says what went wrong), or its exit status when it said nothing.
 */
export function lastErrorLine(r: { exitCode: number; stderr: Buffer }): string {
  return r.stderr.toString("utf8").trim().split("\n").at(-1) || `exit ${r.exitCode}`;
}

/** Where one SSH connection goes. */
export interface SshTarget {
  user: string;
  address: string;
  settings: SshSettings;
}

export interface SshCommandOptions {
  /** A remote shell command line (sent as is) or argv words (each quoted); none: a login shell. */
  command?: string | string[] | undefined;
  tty?: boolean | "force" | undefined;
  /** false lets ssh ask for a key passphrase (interactive use). */
  batchMode?: boolean | undefined;
  /** OpenSSH's LogLevel unless the operator's `ssh.options` set one. */
  logLevel: "QUIET" | "ERROR";
  /**
   * Connection attempts, one second apart (OpenSSH's ConnectionAttempts; default 3): a machine
   * the provider already reports running may not have sshd listening for a moment yet.
   */
  connectionAttempts?: number | undefined;
  /**
   * A directory for OpenSSH connection sharing (ControlMaster): this host's commands reuse one
   * connection, kept 60 s after its last use, instead of a handshake each. For the data path
   * (migrations, backups: a dozen commands per host), not for interactive use.
   */
  shareDir?: string | undefined;
}

/** ControlMaster options for a socket directory (already checked short and private by the caller). */
function sharingOptions(dir: string | undefined): string[] {
  // ssh expands % tokens in the path and splits the option on blanks: such a directory is skipped.
  if (!dir || /[\s"%]/.test(dir)) return [];
  return ["ControlMaster=auto", `ControlPath=${dir}/%C`, "ControlPersist=60"];
}

/** The ssh argv for a target: automna's known_hosts and strict checking, then the operator's options. */
export function sshArgvFor(t: SshTarget, o: SshCommandOptions): string[] {
  const s = t.settings;
  // ssh takes the first value of an option: the operator's `ssh.options` come before these defaults.
  return sshArgs({
    address: t.address, port: s.port, user: s.user, identityFile: s.identityFile, knownHostsFile: s.knownHosts,
    extraOptions: [...s.options, `LogLevel=${o.logLevel}`, `ConnectionAttempts=${o.connectionAttempts ?? 3}`, ...sharingOptions(o.shareDir)],
    ...(o.command !== undefined ? { command: o.command } : {}),
    ...(o.tty !== undefined ? { tty: o.tty } : {}),
    ...(o.batchMode !== undefined ? { batchMode: o.batchMode } : {}),
  });
}

export interface SpawnOptions {
  /** The client to run: ssh unless said otherwise (a provider's own CLI, such as flyctl). */
  program?: string | undefined;
  env: NodeJS.ProcessEnv;
  /** "inherit" hands the terminal to ssh. */
  stdin?: "inherit" | Buffer | string | NodeJS.ReadableStream | undefined;
  /** "inherit", a stream to copy into (not kept), or undefined to collect. */
  stdout?: "inherit" | Writable | undefined;
  stderr?: "inherit" | Writable | undefined;
  /** Called with each stdout chunk (then nothing is collected). */
  onStdout?: ((chunk: Buffer) => void | Promise<void>) | undefined;
  onStderr?: ((chunk: Buffer) => void) | undefined;
  timeoutMs?: number | undefined;
  signal?: AbortSignal | undefined;
}

export interface SpawnResult {
  exitCode: number;
  signal?: string;
  stdout: Buffer;
  stderr: Buffer;
  timedOut: boolean;
}

/**
 * Runs the system `ssh` and returns its exit status and whatever was collected. Output stays
 * bytes end to end, so binary data passes through intact. Writes into a stream honour its
 * back-pressure: ssh stops reading from the network while the consumer is slow.
 *
 * node:child_process rather than execa here: exec across a fleet spawns one ssh per machine, and
 * execa's per-spawn stream machinery cost more CPU than ssh itself (bench/exec-fleet.mjs).
 */
export async function spawnSsh(argv: string[], o: SpawnOptions): Promise<SpawnResult> {
  const { spawn } = await import("node:child_process");
  o.signal?.throwIfAborted();
  const stdinMode = o.stdin === undefined ? "ignore" : o.stdin === "inherit" ? "inherit" : "pipe";
  const child = spawn(o.program ?? "ssh", argv, {
    env: o.env,
    // No input: /dev/null (like ssh -n), so ssh never waits on a stdin nobody writes to.
    stdio: [stdinMode, o.stdout === "inherit" ? "inherit" : "pipe", o.stderr === "inherit" ? "inherit" : "pipe"],
  });
  const out: Buffer[] = [];
  const err: Buffer[] = [];
  const wire = (stream: NodeJS.ReadableStream | null, into: Writable | "inherit" | undefined, each: ((c: Buffer) => void | Promise<void>) | undefined, keep: Buffer[]): void => {
    if (!stream) return;
    if (each) {
      stream.on("data", (c: Buffer) => {
        // A consumer that returns a promise is slow (a full pipe): stop reading until it catches up.
        const wait = each(c);
        if (wait) {
          stream.pause();
          void wait.then(() => stream.resume());
        }
      });
    } else if (into && into !== "inherit") stream.pipe(into, { end: false });
    else stream.on("data", (c: Buffer) => keep.push(c));
  };
  wire(child.stdout, o.stdout, o.onStdout, out);
  wire(child.stderr, o.stderr, o.onStderr, err);
  if (child.stdin) {
    // ssh may exit without reading all of its input (a remote command that ignores stdin).
    child.stdin.on("error", () => undefined);
    const input = o.stdin as Buffer | string | Readable;
    if (typeof input === "string" || Buffer.isBuffer(input)) child.stdin.end(input);
    else input.pipe(child.stdin);
  }
  let timedOut = false;
  let canceled = false;
  let force: NodeJS.Timeout | undefined;
  const stop = (): void => {
    child.kill("SIGTERM");
    force ??= setTimeout(() => child.kill("SIGKILL"), 2000);
  };
  const timer = o.timeoutMs ? setTimeout(() => {
    timedOut = true;
    stop();
  }, o.timeoutMs) : undefined;
  const onAbort = (): void => {
    canceled = true;
    stop();
  };
  o.signal?.addEventListener("abort", onAbort, { once: true });
  const [code, signal] = await new Promise<[number | null, NodeJS.Signals | null]>((resolve, reject) => {
    child.once("error", reject);
    child.once("close", (c, s) => resolve([c, s]));
  }).finally(() => {
    if (timer) clearTimeout(timer);
    if (force) clearTimeout(force);
    o.signal?.removeEventListener("abort", onAbort);
  });
  if (canceled) {
    const error = new Error("aborted");
    error.name = "AbortError";
    throw error;
  }
  return {
    exitCode: code ?? (signal ? 128 + signalNumber(signal) : 255),
    ...(signal ? { signal } : {}),
    stdout: Buffer.concat(out),
    stderr: Buffer.concat(err),
    timedOut,
  };
}

function signalNumber(name: string): number {
  const table: Record<string, number> = { SIGHUP: 1, SIGINT: 2, SIGQUIT: 3, SIGKILL: 9, SIGPIPE: 13, SIGTERM: 15 };
  return table[name] ?? 0;
}

/**
 * What ssh's own diagnostics (exit 255) say went wrong, as an error that tells the operator what
 * to check; undefined when they name no connection problem (the remote command exited 255).
 */
export function classifySshFailure(stderr: string, t: SshTarget, what: string): RemoteAccessError | undefined {
  const where = `${what} at ${hostPattern(t.address, t.settings.port)}`;
  const kind = hostKeyFailure(stderr);
  if (kind === "changed") {
    return new RemoteAccessError(`the SSH host key of ${where} is not the one automna pinned when it created the machine; refusing to connect`, {
      code: "host_key_changed",
      hint: `if the machine was rebuilt or replaced outside automna, compare the fingerprint in its console output (cloud-init prints it at first boot) with the pinned key in ${t.settings.knownHosts}, then re-provision it; otherwise someone may be intercepting the connection`,
    });
  }
  if (kind === "unpinned") {
    return new RemoteAccessError(`automna has no pinned SSH host key for ${where}, so it will not connect`, {
      code: "host_key_unknown",
      hint: "keys are learned when automna provisions a machine; this one was made before that or by another tool: re-provision it, or pin its key (from its console output) in automna's known_hosts yourself",
    });
  }
  const sshLine = (re: RegExp): string | undefined => stderr.split("\n").find((l) => re.test(l))?.trim();
  const denied = sshLine(/Permission denied \(|Too many authentication failures/);
  if (denied) {
    return new RemoteAccessError(`${where} refused automna's SSH key (${denied.replace(/^.*?: /, "")})`, {
      code: "ssh_auth",
      hint: `check that ssh.identityFile${t.settings.identityFile ? ` (${t.settings.identityFile})` : ""} is the private half of the ssh.publicKey registered when the machine was created, and ssh.user (${t.settings.user})`,
    });
  }
  const unreachable = sshLine(/^ssh: |Connection (refused|timed out|closed by|reset by)|kex_exchange_identification|No route to host|Network is unreachable|Could not resolve/);
  if (unreachable) {
    return new RemoteAccessError(`cannot reach ${where}: ${unreachable.replace(/^ssh: /, "")}`, {
      code: "unreachable",
      hint: `is it running (automna status ${t.user})? check ssh.port (${t.settings.port}) and that nothing blocks the address`,
    });
  }
  return undefined;
}

/**
 * After an ssh run with LogLevel=QUIET exited 255: one more connection with diagnostics on says
 * whether ssh failed (host key, auth, network) or the remote command itself exited 255.
 */
export async function diagnose(t: SshTarget, what: string, env: NodeJS.ProcessEnv, signal?: AbortSignal): Promise<RemoteAccessError | undefined> {
  try {
    const probe = await spawnSsh(sshArgvFor(t, { command: "exit 0", logLevel: "ERROR", tty: false, connectionAttempts: 1 }), { env, signal, timeoutMs: 30_000 });
    if (probe.exitCode === 0) return undefined;
    return classifySshFailure(probe.stderr.toString("utf8"), t, what)
      ?? new RemoteAccessError(`ssh to ${what} failed: ${lastErrorLine(probe)}`, { code: "ssh_failed" });
  } catch (error) {
    if (isAbortError(error)) throw error;
    return new RemoteAccessError(`ssh to ${what} failed: ${(error as Error).message}`, { code: "ssh_failed" });
  }
}
