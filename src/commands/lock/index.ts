import type { Command } from "commander";
import type { Context } from "../../context.js";
import { action, examples, type CommandModule } from "../../lib/command.js";
import { addListFlags, listOptionsFrom, renderList, type Column } from "../../lib/output.js";
import { confirmRisk } from "../../lib/prompt.js";
import { validateUser } from "../../lib/validate.js";
import type { Lease } from "../../state/types.js";
import { registerLockRun } from "./run.js";

const COLUMNS: Column<Lease>[] = [
  { name: "user", value: (l) => l.user },
  { name: "who", value: (l) => l.holder.who },
  { name: "operation", value: (l) => l.holder.operation },
  { name: "since", value: (l) => l.acquiredAt },
  { name: "expires", value: (l) => l.expiresAt },
  { name: "lease", value: (l) => l.leaseId },
  { name: "heartbeat", value: (l) => l.heartbeatAt, optional: true },
  { name: "host", value: (l) => l.holder.host, optional: true },
  { name: "pid", value: (l) => l.holder.pid, optional: true },
  { name: "fence", value: (l) => l.fence, optional: true, align: "right" },
];

/** Live (unexpired) leases: who holds which user, doing what, since when, until when. */
export async function runLockList(ctx: Context): Promise<Lease[]> {
  return (await ctx.state()).listLeases();
}

/**
 * Removes a user's lease whoever holds it. The lease id is required, as Terraform's
 * force-unlock requires the lock id: you break the lease you looked at, not one taken since.
 * The old holder's later writes are then refused (fencing).
 */
export async function runLockBreak(ctx: Context, user: string, leaseId: string): Promise<Lease> {
  validateUser(user);
  // The store records the break in its audit log, as the operator.
  return (await ctx.state()).breakLease(user, leaseId);
}

export const lockCommand: CommandModule = {
  register(lock: Command, ctx: Context) {
    lock.addHelpText("after", examples("automna lock list", "automna lock break alice --lease lease_m3x9k2a1b7f3c2d1e4f5", "automna lock run alice -- ./maintenance.sh alice"));

    addListFlags(lock
      .command("list")
      .description("live leases: user, holder, operation, since, expiry and lease id"), COLUMNS)
      .action(action(ctx, async (opts: { output?: string; columns?: string; header: boolean }) => {
        renderList(ctx.io, await runLockList(ctx), COLUMNS, listOptionsFrom(opts, ctx.globals.json));
      }));

    lock
      .command("break")
      .description("remove a user's lease whoever holds it (the holder's later writes are refused); asks first unless --yes")
      .argument("<user>", "user id")
      .requiredOption("--lease <id>", "the lease id, as `automna lock list` shows it")
      .action(action(ctx, async (user: string, opts: { lease: string }) => {
        // Asked about the lease as it is now; a lease id that does not match is runLockBreak's error.
        const held = (await (await ctx.state()).listLeases()).find((l) => l.user === user && l.leaseId === opts.lease);
        if (held) {
          await confirmRisk(ctx.prompt, ctx.globals.yes, `Break lease ${held.leaseId} on ${user}, held by ${held.holder.who} (${held.holder.operation}) since ${held.acquiredAt}? Its holder's later writes will be refused.`, "lock break cancelled; nothing was changed");
        }
        const broken = await runLockBreak(ctx, user, opts.lease);
        if (ctx.globals.json) ctx.io.json(broken);
        else ctx.io.success(`broke lease ${broken.leaseId} on ${user} held by ${broken.holder.who} (${broken.holder.operation}) since ${broken.acquiredAt}`);
      }));

    registerLockRun(lock, ctx);
  },
};
