import type { Command } from "commander";
import type { Context } from "../context.js";
import { action, examples, type CommandModule } from "../lib/command.js";
import { AuthError, CancelledError, errorJson, failureOf, ProviderApiError, rememberFailure, UsageError } from "../lib/errors.js";
import { renderList, type Column } from "../lib/output.js";
import { parseInteger, validateUsers } from "../lib/validate.js";
import type { ProviderRegistry } from "../providers/index.js";
import type { Instance, LeaseRef, StateStore } from "../state/types.js";

export interface DestroyOutcome {
  user: string;
  result: "destroyed" | "absent" | "failed";
  provider: string | null;
  removed: string[];
  error: { code: string; message: string; hint?: string } | null;
}

export interface DestroyOptions {
  users: string[];
  concurrency: number;
  /** Also destroy retired sources a migration keeps as a fallback (protected otherwise). */
  force: boolean;
}

/** A migration's retired source, kept until its grace period ends, is not destroyed without --force. */
export function assertNotProtected(user: string, rows: Instance[], force: boolean): void {
  const retired = rows.filter((r) => r.role === "retired");
  if (force || retired.length === 0) return;
  const r = retired[0]!;
  const until = typeof r.meta.retireUntil === "string" ? ` (kept until ${r.meta.retireUntil})` : "";
  throw new UsageError(`${user} has a retired source on ${r.provider}${until}, a migration's fallback; it is protected`, {
    hint: `pass --force to destroy it too, or let automna gc remove it after its grace period`,
  });
}

/**
 * Removes one user's provider resources (in the provider's order), closes usage, drops the rows.
 * `rows` chooses which (default: all of the user's instances).
 */
export interface DestroyDeps {
  state: StateStore;
  registry: ProviderRegistry;
  who: string;
  now: () => Date;
  step: (t: string) => void;
  /** Forgets what automna pinned for a removed machine (its known_hosts entry). */
  forget: (row: Instance) => Promise<void>;
}

export async function destroyUser(deps: DestroyDeps, user: string, lease: LeaseRef, pick: (row: Instance) => boolean = () => true): Promise<Omit<DestroyOutcome, "error">> {
  const { state, registry, who, now, step } = deps;
  const rows = (await state.listInstances({ user })).filter(pick);
  if (rows.length === 0) return { user, result: "absent", provider: null, removed: [] };
  const removed: string[] = [];
  for (const row of rows) {
    const provider = await registry.get(row.provider);
    // Intent first: a crash from here on leaves a row that says what was under way.
    await state.updateInstance(row.id, { status: "deleting" }, { lease });
    try {
      let target = row.resources;
      if (Object.keys(target).length === 0 && row.opId) {
        // A create whose ids never reached state may still have made something: find it by marker.
        target = (await provider.findByMarker(row.opId))?.resources ?? {};
      }
      step(`removing ${provider.title} resources`);
      removed.push(...(await provider.destroy({ resources: target, user })));
    } catch (error) {
      // Refused before anything changed (API unreachable, token rejected): state as it was.
      const unsent = error instanceof ProviderApiError && error.status === 0 && error.providerCode === "unreachable";
      if (unsent || error instanceof AuthError) await state.updateInstance(row.id, { status: row.status }, { lease });
      throw error;
    }
    await state.closeUsage(row.id, now().toISOString(), { lease });
    await state.deleteInstance(row.id, { lease });
    // The machine is gone whatever happens to a stale known_hosts line: never fail the destroy on it.
    await deps.forget(row).catch(() => undefined);
    await state.appendAudit({ who, action: "destroy", target: user, details: { provider: row.provider, resources: row.resources, removed } });
  }
  return { user, result: "destroyed", provider: rows[0]!.provider, removed };
}

export async function runDestroy(ctx: Context, opts: DestroyOptions): Promise<DestroyOutcome[]> {
  const users = validateUsers(opts.users);
  const [state, registry] = await Promise.all([ctx.state(), ctx.providers()]);
  if (!ctx.globals.yes) {
    const known = (await state.listInstances({ users })).map((i) => i.user);
    const names = known.length > 5 ? `${known.slice(0, 5).join(", ")} and ${known.length - 5} more` : known.join(", ");
    if (known.length > 0) {
      const ok = await ctx.prompt.confirm({ message: `Destroy the agents of ${names} and their data?`, flag: "--yes", default: false });
      if (!ok) throw new CancelledError("destroy cancelled; nothing was changed");
    }
  }
  const [{ withLease }, { mapConcurrent }] = await Promise.all([import("../state/lease.js"), import("../lib/concurrency.js")]);
  const who = await ctx.operator();
  const { forget } = await (await import("../access/provision-keys.js")).provisionAccess(ctx);
  const board = ctx.io.board();
  try {
    return await mapConcurrent(users, opts.concurrency, async (user): Promise<DestroyOutcome> => {
      try {
        const out = await withLease(state, user, { who, operation: "destroy" }, async (lease) => {
          assertNotProtected(user, await state.listInstances({ user }), opts.force);
          return destroyUser({ state, registry, who, now: () => ctx.clock.now(), step: (t) => board.update(user, t), forget }, user, lease);
        });
        board.done(user, out.result === "absent" ? "no instance (nothing to do)" : `destroyed (${out.removed.join(", ") || "already gone at the provider"})`);
        return { ...out, error: null };
      } catch (error) {
        const e = errorJson(error);
        board.fail(user, e.message);
        const outcome: DestroyOutcome = { user, result: "failed", provider: null, removed: [], error: e };
        rememberFailure(outcome, error);
        return outcome;
      }
    });
  } finally {
    board.close();
  }
}

const COLUMNS: Column<DestroyOutcome>[] = [
  { name: "user", value: (r) => r.user },
  { name: "result", value: (r) => r.result },
  { name: "provider", value: (r) => r.provider },
  { name: "removed", value: (r) => r.removed.join(", ") || null },
  { name: "error", value: (r) => r.error?.message.split("\n")[0] ?? null },
];

export const destroyCommand: CommandModule = {
  register(command: Command, ctx: Context) {
    command
      .argument("<users...>", "user ids")
      .option("--concurrency <n>", "users destroyed at once", "8")
      .option("--force", "also destroy retired sources that migrations keep as a fallback")
      .addHelpText("after", examples("automna destroy alice", "automna destroy alice bob --yes --json"))
      .action(action(ctx, async (users: string[], raw: { concurrency: string; force?: boolean }) => {
        const results = await runDestroy(ctx, { users, concurrency: parseInteger("--concurrency", raw.concurrency, 1, 64), force: raw.force === true });
        const failed = results.filter((r) => r.result === "failed").length;
        if (results.length === 1 && failed === 1) {
          // One user: the error itself, with its own exit code (4 when locked) and hint.
          throw failureOf(results[0]!);
        }
        if (ctx.globals.json) ctx.io.json(results);
        else renderList(ctx.io, results, COLUMNS, { format: "table" });
        if (failed === 0) return 0;
        return failed === results.length ? 1 : 3;
      }));
  },
};
