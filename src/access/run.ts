import { lstat, mkdir } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { Readable, Writable } from "node:stream";
import type { Context } from "../context.js";
import { AutomnaError } from "../lib/errors.js";
import { automnaDataDir } from "../lib/paths.js";
import { readAll } from "../lib/read-all.js";
import type { Instance } from "../state/types.js";
import { classifySshFailure, spawnSsh, sshArgvFor, timedOut, type SshTarget } from "./ssh.js";
import { ensurePinned, instanceSshAddress, sshSettings, type SshSettings, type Target } from "./target.js";

export interface RunOnInstanceOptions {
  /** Bytes for the command's stdin (a stream is read as it goes over SSH; Fly needs it whole). */
  stdin?: Buffer | string | Readable | undefined;
  /** Kill the command (and fail with code `timeout`) after this long. */
  timeoutMs?: number | undefined;
  /** Stream stdout here instead of collecting it (large outputs such as `tar -c`). Not ended. */
  stdout?: Writable | undefined;
  /** Stream stderr here instead of collecting it. Not ended. */
  stderr?: Writable | undefined;
  /**
   * The ssh client's environment (default: automna's own). A caller whose environment holds
   * secret values passes one without them: a process's environment is readable by its user.
   */
  env?: NodeJS.ProcessEnv | undefined;
  /** Share one SSH connection per host across this run's commands (see SshCommandOptions.shareDir). */
  share?: boolean | undefined;
  /**
   * What stops the command (default: the run's Ctrl-C). A migration interrupted before its switch
   * passes its own, so it can still restart the source agent after the Ctrl-C that stopped it.
   */
  signal?: AbortSignal | undefined;
}

export interface RunOnInstanceResult {
  /** The command's exit status (128 + n when a signal ended it). */
  exitCode: number;
  signal?: string;
  /** Collected stdout (empty when `options.stdout` took it). */
  stdout: Buffer;
  stderr: Buffer;
}

/** Per-chunk hooks for callers that render output as it arrives (exec). */
export interface RunHooks {
  onStdout?(chunk: Buffer): void;
  onStderr?(chunk: Buffer): void;
}

/**
 * Runs a command on a user's instance and returns its exit status and output — the building
 * block of exec, backups and migrations. `command` is argv (each word reaches the program
 * unchanged) or a string (a shell command line, run with `sh -c`).
 *
 * - VMs (Hetzner, DigitalOcean): the system OpenSSH client with automna's known_hosts and
 *   StrictHostKeyChecking=yes. Binary-safe both ways; stdin and stdout stream, so a `tar` of
 *   gigabytes never sits in memory when `options.stdout` is given.
 * - Fly: the Machines API exec endpoint. It carries stdin/stdout/stderr as JSON strings, so only
 *   text survives (stdin that is not UTF-8 is refused), the whole output comes back in one
 *   response (not for large data: move bytes through object storage with presigned URLs), and
 *   the command gets at most the timeout (default 300 s) the API is given.
 * - Koyeb and Cloudflare Sandbox: their exec streams (a WebSocket of base64 frames; server-sent
 *   events), whose output reaches the hooks and `options.stdout` while the command runs.
 *
 * A command that ran and failed is a result (exitCode != 0). Failing to reach the instance
 * (host key mismatch, refused key, network) throws a RemoteAccessError saying what to check;
 * a timeout throws code `timeout`.
 */
export async function runOnInstance(ctx: Context, instance: Instance, command: string | string[], options: RunOnInstanceOptions = {}): Promise<RunOnInstanceResult> {
  const registry = await ctx.providers();
  const provider = await registry.forInstance(instance);
  const overSsh = provider.reach === "ssh";
  const address = overSsh ? await instanceSshAddress(provider, instance) : undefined;
  if (overSsh && !address) throw new AutomnaError(`${instance.user}'s instance has no address yet`, { code: "no_address" });
  const target: Target = { user: instance.user, instance, provider, address };
  return runOnTarget(ctx, target, overSsh ? await sshSettings(ctx) : undefined, command, options);
}

async function inputBytes(input: Buffer | string | Readable): Promise<Buffer> {
  if (typeof input === "string") return Buffer.from(input);
  if (Buffer.isBuffer(input)) return input;
  return readAll(input);
}

export function describeTarget(t: Pick<Target, "user" | "provider">): string {
  return `${t.user}'s ${t.provider.title} instance`;
}

/** Runs on an already resolved target (exec resolves all users first). */
export async function runOnTarget(ctx: Context, target: Target, settings: SshSettings | undefined, command: string | string[], options: RunOnInstanceOptions & RunHooks = {}): Promise<RunOnInstanceResult> {
  const what = describeTarget(target);
  const remote = target.provider.access(target.instance).api;
  if (remote) {
    const argv = typeof command === "string" ? ["sh", "-c", command] : command;
    const stdin = options.stdin === undefined ? undefined : await inputBytes(options.stdin);
    // Output is handed on as the API delivers it (streamed by Koyeb and the Cloudflare bridge,
    // at the end by Fly); only what no stream or hook takes is collected for the result.
    const kept = { stdout: [] as Buffer[], stderr: [] as Buffer[] };
    const sinks = { stdout: [options.stdout, options.onStdout], stderr: [options.stderr, options.onStderr] } as const;
    const onOutput = (stream: "stdout" | "stderr", chunk: Buffer): void => {
      const [into, hook] = sinks[stream];
      hook?.(chunk);
      if (into) into.write(chunk);
      else kept[stream].push(chunk);
    };
    const started = Date.now();
    const res = await remote.exec(target.instance, argv, { ...(stdin !== undefined ? { stdin } : {}), ...(options.timeoutMs ? { timeoutMs: options.timeoutMs } : {}), onOutput });
    // The exec API ends a command that outlives its timeout with a signal and says no more: a
    // signal once the time is up is that timeout.
    if (options.timeoutMs && res.signal && Date.now() - started >= options.timeoutMs) throw timedOut(what, options.timeoutMs);
    return { exitCode: res.exitCode, ...(res.signal ? { signal: res.signal } : {}), stdout: Buffer.concat(kept.stdout), stderr: Buffer.concat(kept.stderr) };
  }
  if (!settings || !target.address) throw new AutomnaError(`${what} has no SSH address`, { code: "no_address" });
  const t: SshTarget = { user: target.user, address: target.address, settings };
  await ensurePinned(settings, target.address, target.instance);
  // ssh's own complaints (host key, refused key) are needed to explain an exit 255, so a copy of
  // the end of stderr is kept even when it is streamed elsewhere.
  let tail = "";
  const keepTail = (c: Buffer): void => {
    tail = (tail + c.toString("latin1")).slice(-4096);
  };
  const onStderr = options.stderr || options.onStderr
    ? (c: Buffer): void => {
      keepTail(c);
      options.onStderr?.(c);
      options.stderr?.write(c);
    }
    : undefined;
  const onStdout = options.onStdout || options.stdout
    ? (c: Buffer): void | Promise<void> => {
      options.onStdout?.(c);
      const out = options.stdout;
      if (out && !out.write(c)) return new Promise((resolve) => out.once("drain", () => resolve()));
    }
    : undefined;
  const shareDir = options.share ? await sharedConnectionsDir(ctx.env) : undefined;
  const res = await spawnSsh(sshArgvFor(t, { command, tty: false, logLevel: "ERROR", shareDir }), {
    env: options.env ?? ctx.env, stdin: options.stdin, onStdout, onStderr, timeoutMs: options.timeoutMs, signal: options.signal ?? ctx.signal,
  });
  if (res.timedOut) throw timedOut(what, options.timeoutMs);
  if (res.exitCode === 255) {
    const failure = classifySshFailure(onStderr ? tail : res.stderr.toString("latin1"), t, what);
    if (failure) throw failure;
  }
  return { exitCode: res.exitCode, ...(res.signal ? { signal: res.signal } : {}), stdout: res.stdout, stderr: res.stderr };
}

/**
 * ssh binds `<dir>/<40 hex>.<16 random>` before renaming it to `<dir>/<40 hex>`, and a unix socket
 * path has 104 bytes at most on macOS (108 on Linux), so the directory gets 45.
 */
const SOCKET_DIR_MAX = 103 - (1 + 40 + 17);

/** The answers of sharedConnectionsDir, by candidate list: it is asked once per SSH command. */
const sharedDirs = new Map<string, Promise<string | undefined>>();

/**
 * A private directory (ours, 0700, not a symlink) short enough for shared SSH connection sockets:
 * $XDG_RUNTIME_DIR/automna, automna's data directory, or <tmpdir>/automna-<uid>. None fits or is
 * safe: no sharing (every command makes its own connection, as before). Worked out once per
 * process for each environment, not on every command of a migration.
 */
export function sharedConnectionsDir(env: NodeJS.ProcessEnv): Promise<string | undefined> {
  const uid = process.getuid?.();
  const candidates = [
    env.XDG_RUNTIME_DIR ? join(env.XDG_RUNTIME_DIR, "automna") : undefined,
    join(automnaDataDir(env), "ssh-mux"),
    uid === undefined ? undefined : join(tmpdir(), `automna-${uid}`),
  ].filter((dir): dir is string => dir !== undefined && Buffer.byteLength(dir) <= SOCKET_DIR_MAX);
  const key = candidates.join("\0");
  let found = sharedDirs.get(key);
  if (!found) {
    found = firstPrivateDir(candidates, uid);
    sharedDirs.set(key, found);
  }
  return found;
}

async function firstPrivateDir(candidates: string[], uid: number | undefined): Promise<string | undefined> {
  for (const dir of candidates) {
    try {
      await mkdir(dir, { recursive: true, mode: 0o700 });
      const st = await lstat(dir);
      // Someone else's directory (a shared /tmp) must not hold our connections.
      if (st.isDirectory() && !st.isSymbolicLink() && st.uid === uid && (st.mode & 0o077) === 0) return dir;
    } catch {
      // not usable: try the next
    }
  }
  return undefined;
}
