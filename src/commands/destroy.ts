import type { Command } from "commander";
import { provisionAccess } from "../access/provision-keys.js";
import type { Context } from "../context.js";
import { assertNotProtected, destroyUser } from "../fleet/destroy-user.js";
import { action, examples, type CommandModule } from "../lib/command.js";
import { CancelledError, errorJson, failureOf, rememberFailure } from "../lib/errors.js";
import { mapConcurrent } from "../lib/concurrency.js";
import { addOutputFlag, DOCUMENT_FORMATS, renderDocument, renderList, resolveFormat, type Column } from "../lib/output.js";
import { SELECTOR_HELP, selectUsers } from "../lib/selector-users.js";
import { parseInteger, validateUsers } from "../lib/validate.js";
import { dnsFromConfig } from "../migrate/deps.js";
import { unfinishedConflict, unfinishedMigration } from "../migrate/unfinished.js";
import { withLease } from "../state/lease.js";

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
  /** `--delete-data`: also the data a provider keeps apart from the instance. */
  deleteData?: boolean;
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
  const who = await ctx.operator();
  const { forget } = await provisionAccess(ctx);
  const dns = await dnsFromConfig(ctx);
  const board = ctx.io.board();
  try {
    return await mapConcurrent(users, opts.concurrency, async (user): Promise<DestroyOutcome> => {
      try {
        const out = await withLease(state, user, { who, operation: "destroy" }, async (lease) => {
          // A migration left unfinished still owns instances and archives: destroying under it strands the user.
          const unfinished = await unfinishedMigration(state, user);
          if (unfinished) throw unfinishedConflict(unfinished, "destroying it now would strand the operation (its source or target would be gone)");
          assertNotProtected(user, await state.listInstances({ user }), opts.force);
          return destroyUser({ state, registry, who, now: () => ctx.clock.now(), step: (t) => board.update(user, t), forget, dns, deleteData: opts.deleteData === true }, user, lease);
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
    await dns?.provider.close();
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
    addOutputFlag(command
      .argument("[users...]", "user ids (or -l)")
      .option("-l, --selector <selector>", SELECTOR_HELP)
      .option("--concurrency <n>", "users destroyed at once", "8")
      .option("--force", "also destroy retired sources that migrations keep as a fallback")
      .option("--delete-data", "also delete data kept apart from the instance (a Cloudflare sandbox's R2 prefix, kept otherwise)"))
      .addHelpText("after", examples("automna destroy alice", "automna destroy alice bob --yes --json", "automna destroy -l cohort=trial-2026-10"))
      .action(action(ctx, async (named: string[], raw: { selector?: string; concurrency: string; force?: boolean; deleteData?: boolean; output?: string }) => {
        const format = resolveFormat(raw.output, ctx.globals.json, DOCUMENT_FORMATS);
        const users = await selectUsers(ctx, named, raw, { command: "destroy", instances: "any" });
        const results = await runDestroy(ctx, { users, concurrency: parseInteger("--concurrency", raw.concurrency, 1, 64), force: raw.force === true, deleteData: raw.deleteData === true });
        const failed = results.filter((r) => r.result === "failed").length;
        if (results.length === 1 && failed === 1) {
          // One user: the error itself, with its own exit code (4 when locked) and hint.
          throw failureOf(results[0]!);
        }
        renderDocument(ctx.io, format, results, () => renderList(ctx.io, results, COLUMNS, { format: "table" }));
        if (failed === 0) return 0;
        return failed === results.length ? 1 : 3;
      }));
  },
};
