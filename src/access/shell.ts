import { accessSync, constants } from "node:fs";
import { delimiter, isAbsolute, join } from "node:path";
import type { Context } from "../context.js";
import { NotSupportedError } from "../lib/errors.js";
import { readAll } from "../lib/read-all.js";
import { describeTarget, runOnTarget } from "./run.js";
import { diagnose, spawnSsh, sshArgvFor, timedOut, type SshTarget } from "./ssh.js";
import { ensurePinned, resolveTargets, sshSettings } from "./target.js";

export interface SshOptions {
  user: string;
  /** Words after `--`: joined with spaces into one remote command line, as ssh does. Empty: a shell. */
  command: string[];
  /** Force a pty even for a command (`ssh -t`). */
  tty?: boolean | undefined;
  timeoutMs?: number | undefined;
}

/** A stream the child can share directly (the real terminal), rather than one we copy. */
function hasFd(stream: object): boolean {
  return typeof (stream as { fd?: unknown }).fd === "number";
}

/** Finds a program on PATH (no shell), like `command -v`. */
export function onPath(program: string, env: NodeJS.ProcessEnv): string | undefined {
  if (isAbsolute(program)) return program;
  for (const dir of (env.PATH ?? "").split(delimiter)) {
    if (!dir) continue;
    const file = join(dir, program);
    try {
      accessSync(file, constants.X_OK);
      return file;
    } catch {
      // not here
    }
  }
  return undefined;
}

/**
 * `automna ssh <user> [-- cmd...]`: returns the remote exit status, which becomes automna's.
 * VMs: the system ssh with the terminal handed over (stdio inherited when automna runs in one),
 * automna's known_hosts and strict host-key checking; an exit 255 is checked with a second,
 * verbose connection so a changed host key or a refused login is reported as what it is.
 * API providers: a command goes through their exec API; a shell through their own CLI.
 */
export async function runSsh(ctx: Context, opts: SshOptions): Promise<number> {
  const [target] = await resolveTargets(ctx, [opts.user]);
  const t = target!;
  const streams = ctx.io.streams;
  const line = opts.command.join(" ");
  const remote = t.provider.access(t.instance).api;
  if (remote) {
    if (opts.command.length === 0) return interactiveViaCli(ctx, t.provider.title, remote.shell({ ...t.instance }), opts.user);
    const stdin = streams.stdin.isTTY === true ? undefined : await readAll(streams.stdin);
    const res = await runOnTarget(ctx, t, undefined, line, {
      stdin, timeoutMs: opts.timeoutMs,
      onStdout: (c) => void streams.stdout.write(c),
      onStderr: (c) => void streams.stderr.write(c),
    });
    return res.exitCode;
  }
  const settings = await sshSettings(ctx);
  const st: SshTarget = { user: t.user, address: t.address!, settings };
  await ensurePinned(settings, st.address, t.instance);
  const interactive = opts.command.length === 0;
  const argv = sshArgvFor(st, {
    ...(interactive ? {} : { command: line }),
    ...(opts.tty ? { tty: "force" as const } : {}),
    // A person at a shell may need to type a key passphrase; a one-off command never prompts.
    batchMode: !interactive,
    // A one-off command that cannot connect says why (a banner timeout, a reset) instead of a bare
    // exit 255 once the diagnosis connection finds nothing wrong; a shell's goodbye stays quiet.
    logLevel: interactive ? "QUIET" : "ERROR",
  });
  const res = await spawnSsh(argv, {
    env: ctx.env,
    stdin: hasFd(streams.stdin) ? "inherit" : (streams.stdin as NodeJS.ReadableStream),
    stdout: hasFd(streams.stdout) ? "inherit" : (streams.stdout as import("node:stream").Writable),
    stderr: hasFd(streams.stderr) ? "inherit" : (streams.stderr as import("node:stream").Writable),
    timeoutMs: opts.timeoutMs, signal: ctx.signal,
  });
  if (res.timedOut) throw timedOut(describeTarget(t), opts.timeoutMs);
  if (res.exitCode === 255) {
    const failure = await diagnose(st, describeTarget(t), ctx.env, ctx.signal);
    if (failure) throw failure;
  }
  return res.exitCode;
}

/** An interactive shell through the provider's CLI (flyctl ssh console), terminal handed over. */
async function interactiveViaCli(ctx: Context, title: string, shell: { program: string; args: string[]; install: string }, user: string): Promise<number> {
  const program = onPath(shell.program, ctx.env);
  if (!program) {
    throw new NotSupportedError(`an interactive shell on ${title} needs ${shell.program}, which is not on PATH: ${title} machines have no SSH endpoint automna can reach`, {
      hint: `${shell.install}; or run one command through the API: automna ssh ${user} -- <command>`,
    });
  }
  const streams = ctx.io.streams;
  const res = await spawnSsh(shell.args, {
    program, env: ctx.env, signal: ctx.signal,
    stdin: hasFd(streams.stdin) ? "inherit" : undefined,
    stdout: hasFd(streams.stdout) ? "inherit" : (streams.stdout as import("node:stream").Writable),
    stderr: hasFd(streams.stderr) ? "inherit" : (streams.stderr as import("node:stream").Writable),
  });
  return res.exitCode;
}
