import type { Writable } from "node:stream";
import { shellQuote } from "../../lib/known-hosts.js";
import { findExecutable, namespaceArgs, type Isolation } from "./isolation.js";
import type { HostNamespace } from "./namespace.js";
import { spawnThroughHelper, type HostProcess } from "./spawner.js";

export type { HostProcess } from "./spawner.js";

export interface PtySize {
  term: string;
  rows: number;
  cols: number;
}

/** One command (or interactive shell) to run on a host. */
export interface CommandSpec {
  /** A shell command line run with `/bin/sh -c`; absent for an interactive shell (`/bin/sh -i`). */
  command?: string | undefined;
  /** A terminal was asked for: the command runs on a real pty through util-linux `script`. */
  pty?: PtySize | undefined;
  env: Record<string, string>;
  cwd: string;
  isolation: Isolation;
  /** The host's fstab, mounted in the command's namespace under `mount-namespace`. */
  fstab: string;
  /** The host's kept namespace, which the command joins (else it gets one of its own). */
  namespace?: HostNamespace | undefined;
}

/** Whether a pty can be offered; without `script`, pty requests are refused and ssh goes on without one. */
export function ptySupported(): boolean {
  return findExecutable("script") !== undefined;
}

/**
 * Starts the command in its own process group (so closing the session can signal everything it
 * started) with exactly the given environment: nothing of the sandbox process's own environment
 * (its API tokens) leaks into a host. It is started by the sandbox's small process starter, not
 * forked from this (large) process: see spawner.ts.
 */
export async function spawnCommand(spec: CommandSpec): Promise<HostProcess> {
  let argv = spec.command === undefined ? ["/bin/sh", "-i"] : ["/bin/sh", "-c", spec.command];
  if (spec.pty) {
    const size = `stty rows ${spec.pty.rows || 24} cols ${spec.pty.cols || 80} 2>/dev/null;`;
    const inner = spec.command === undefined ? `${size} exec /bin/sh -i` : `${size} exec /bin/sh -c ${shellQuote(spec.command)}`;
    argv = ["script", "-q", "-f", "-e", "-c", inner, "/dev/null"];
  }
  if (spec.isolation === "mount-namespace") argv = [...((await spec.namespace?.enterArgs(spec.cwd)) ?? ["unshare", ...namespaceArgs(spec.fstab)]), ...argv];
  const [file = "/bin/sh", ...args] = argv;
  const child = await spawnThroughHelper({ file, args, cwd: spec.cwd, env: spec.env });
  if (spec.pty) ptyChildren.add(child);
  return child;
}

/**
 * Hangs up on a command: SIGHUP to its process group, then SIGKILL to the group if its leader is
 * still running after a grace period. A pty session gets SIGKILL at once: util-linux `script`
 * ignores SIGHUP while its child runs, and killing it closes the pty master, so the kernel hangs
 * up the session inside, exactly as sshd's closing of the pty does.
 *
 * Not once the leader has gone: when nothing is left in its group, the kernel may give its pid to
 * a new process, and a late SIGKILL to that group would kill a stranger. With pid_max at 32768 and
 * a test suite's churn, that happened: another test's remote `sleep` died mid-run (ssh exited 255).
 * A process that ignored the hangup outlives its leader, as it would under sshd.
 */
export function terminate(child: HostProcess, graceMs = 2000): void {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const pid = child.pid;
  const signalGroup = (signal: NodeJS.Signals) => {
    try {
      process.kill(-pid, signal);
    } catch {
      // already gone
    }
  };
  if (ptyChildren.has(child)) return signalGroup("SIGKILL");
  signalGroup("SIGHUP");
  setTimeout(() => {
    if (child.exitCode === null && child.signalCode === null) signalGroup("SIGKILL");
  }, graceMs).unref();
}

const ptyChildren = new WeakSet<HostProcess>();

/** Resolves once everything written so far has been handed on (ssh2 holds data while the peer's window is full). */
export function flushed(stream: Writable): Promise<void> {
  if (!stream.writable || stream.writableLength === 0) return Promise.resolve();
  return new Promise((resolve) => {
    stream.write(Buffer.alloc(0), () => resolve());
  });
}
