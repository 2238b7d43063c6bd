import { spawn } from "node:child_process";
import { hostname } from "node:os";
import { basename } from "node:path";
import type { Command } from "commander";
import type { Context } from "../../context.js";
import { action, examples } from "../../lib/command.js";
import { LockedError, UsageError } from "../../lib/errors.js";
import { parseDuration, validateUsers } from "../../lib/validate.js";

export interface LockRunOptions {
  ttl?: string | undefined;
  reason?: string | undefined;
}

export interface LockRunResult {
  users: string[];
  leases: Record<string, string>;
  exitCode: number;
}

/**
 * Holds the users' leases (all or none) while a command runs, like flock(1) for fleet users:
 * no migration or other automna run can take them meanwhile. Heartbeats keep the leases alive;
 * if one is lost anyway (broken by an admin), the command is stopped. The command sees the
 * leases in AUTOMNA_LEASES (user:leaseId,...), to present with writes of its own.
 */
export async function runLockRun(ctx: Context, users: string[], command: string[], opts: LockRunOptions): Promise<LockRunResult> {
  validateUsers(users);
  if (users.length === 0) throw new UsageError("name at least one user");
  if (command.length === 0) throw new UsageError("name the command to run after --", { hint: "automna lock run alice -- ./maintenance.sh" });
  const ttlMs = parseDuration("--ttl", opts.ttl ?? "60s");
  if (ttlMs < 1000) throw new UsageError("--ttl must be at least 1s");
  const store = await ctx.state();
  const operator = await ctx.operator();
  const holder = { who: operator, operation: opts.reason ?? `lock run: ${[basename(command[0]!), ...command.slice(1)].join(" ").slice(0, 100)}`, host: hostname(), pid: process.pid };
  const { holdLeases } = await import("../../state/lease.js");
  let child: ReturnType<typeof spawn> | undefined;
  const held = await holdLeases(store, users, holder, {
    ttlMs,
    onLost: (user, error) => {
      ctx.io.warn(`lease on ${user} was lost (${error.message}); stopping the command`);
      child?.kill("SIGTERM");
    },
  });
  ctx.io.info(`holding ${users.join(", ")} (${held.leases.map((l) => l.leaseId).join(", ")}); running ${command[0]}`);
  let exitCode: number;
  try {
    exitCode = await new Promise<number>((resolve, reject) => {
      const env = { ...ctx.env, AUTOMNA_LEASES: held.leases.map((l) => `${l.user}:${l.leaseId}`).join(",") };
      const proc = spawn(command[0]!, command.slice(1), { env, cwd: ctx.cwd, stdio: ["inherit", "pipe", "pipe"] });
      child = proc;
      // With --json, stdout holds only our one document: the command's output goes to stderr.
      proc.stdout!.on("data", (d: Buffer) => (ctx.globals.json ? ctx.io.streams.stderr.write(d) : ctx.io.write(d)));
      proc.stderr!.on("data", (d: Buffer) => ctx.io.streams.stderr.write(d));
      const onAbort = (): void => void proc.kill("SIGTERM");
      ctx.signal.addEventListener("abort", onAbort, { once: true });
      proc.once("error", (error) => reject(new UsageError(`cannot run ${command[0]}: ${error.message}`)));
      proc.once("close", (code, signal) => {
        ctx.signal.removeEventListener("abort", onAbort);
        resolve(code ?? (signal ? 128 + (signal === "SIGTERM" ? 15 : signal === "SIGKILL" ? 9 : 2) : 1));
      });
    });
    // What ran under the leases and how it ended: the store audits the leases themselves, not this.
    const ran = { command: basename(command[0]!), exitCode, reason: opts.reason ?? null };
    for (const user of users) await store.appendAudit({ who: operator, action: "lock.run", target: user, details: ran });
  } finally {
    await held.release();
  }
  if (held.lost.size > 0) {
    throw new LockedError(`lost the lease on ${[...held.lost].join(", ")} while the command ran; it was stopped`, undefined, {
      hint: "someone broke the lease; see `automna state audit --action lease.break`",
    });
  }
  return { users, leases: Object.fromEntries(held.leases.map((l) => [l.user, l.leaseId])), exitCode };
}

export function registerLockRun(lock: Command, ctx: Context): void {
  lock
    .command("run")
    .description("hold users' leases while a command runs; exits with its exit code (4 if a user is locked)")
    .argument("<user...>", "user ids, then -- and the command")
    .option("--ttl <duration>", "lease TTL, renewed every third of it while the command runs", "60s")
    .option("--reason <text>", "what the holder is doing, shown by lock list and to anyone refused")
    .addHelpText("after", examples("automna lock run alice -- ./maintenance.sh alice", "automna lock run alice bob --reason 'disk resize' -- sleep 600"))
    .action(action(ctx, async (args: string[], opts: LockRunOptions, cmd: Command) => {
      // commander drops the -- and hands every operand to <user...>: split at the -- it saw.
      let root: Command = cmd;
      while (root.parent) root = root.parent;
      const raw = (root as Command & { rawArgs?: string[] }).rawArgs ?? [];
      const dash = raw.indexOf("--");
      const after = dash === -1 ? 0 : raw.length - dash - 1;
      const users = args.slice(0, args.length - after);
      const command = args.slice(args.length - after);
      const result = await runLockRun(ctx, users, command, opts);
      if (ctx.globals.json) ctx.io.json(result);
      return result.exitCode;
    }));
}
