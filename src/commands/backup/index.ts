import type { Command } from "commander";
import type { Context } from "../../context.js";
import { action, examples, type CommandModule } from "../../lib/command.js";
import { CancelledError, errorJson, failureOf, rememberFailure } from "../../lib/errors.js";
import { addOutputFlag, DOCUMENT_FORMATS, mib, renderDetails, renderDocument, renderList, resolveFormat, type Column } from "../../lib/output.js";
import { addSelectionFlags, selectUsers, type SelectionFlags } from "../../lib/selector-users.js";
import { parseInteger, validateUser } from "../../lib/validate.js";
import type { BackupDeps, BackupResult, RestoreResult } from "../../migrate/backup.js";
import type { EngineDeps } from "../../migrate/types.js";
import type { ProgressBoard } from "../../lib/io.js";
import { registerBackupCatalog } from "./catalog.js";

type Deps = EngineDeps & { close(): Promise<void> };

/** The engine's dependencies for backups and restores, built once per command run. */
async function backupDeps(ctx: Context): Promise<Deps> {
  const [{ buildEngineDeps }, { hostRunner }] = await Promise.all([import("../../migrate/deps.js"), import("../../migrate/exec.js")]);
  return buildEngineDeps(ctx, await hostRunner(ctx), () => undefined);
}

export interface BackupOutcome {
  user: string;
  result: "verified" | "failed";
  backup: BackupResult | null;
  error: { code: string; message: string; hint?: string } | null;
}

/** A one-user board: the task line `user: text` the single backup always showed. */
function oneLine(ctx: Context): Pick<ProgressBoard, "update" | "done" | "fail" | "close"> {
  let task: ReturnType<Context["io"]["task"]> | undefined;
  const show = (user: string, text: string): void => {
    if (task) task.update(`${user}: ${text}`);
    else task = ctx.io.task(`${user}: ${text}`);
  };
  return { update: show, done: () => task?.stop(), fail: () => task?.stop(), close: () => task?.stop() };
}

/** `automna backup <user...>|--all`: each user's /data archived, uploaded and verified, `concurrency` at once. */
export async function runBackups(ctx: Context, users: string[], concurrency: number, single = false): Promise<BackupOutcome[]> {
  const [{ backupUser }, { mapConcurrent }] = await Promise.all([import("../../migrate/backup.js"), import("../../lib/concurrency.js")]);
  const deps = await backupDeps(ctx);
  // One user: a progress line as before; several: a board, one line each.
  const board = single ? oneLine(ctx) : ctx.io.board();
  try {
    return await mapConcurrent(users, concurrency, async (user): Promise<BackupOutcome> => {
      board.update(user, "starting");
      try {
        const r = await backupUser({ ...deps, step: (text) => board.update(user, text) }, user);
        board.done(user, `${r.backupId}: ${r.files} files, ${mib(r.dataBytes)}, verified (agent paused ${(r.frozenMs / 1000).toFixed(1)} s)`);
        return { user, result: "verified", backup: r, error: null };
      } catch (error) {
        const outcome: BackupOutcome = { user, result: "failed", backup: null, error: errorJson(error) };
        board.fail(user, outcome.error!.message.split("\n")[0]!);
        rememberFailure(outcome, error);
        return outcome;
      }
    });
  } finally {
    board.close();
    await deps.close();
  }
}

export async function runRestore(ctx: Context, user: string, from: string): Promise<RestoreResult> {
  validateUser(user);
  const [{ restoreUser }, { resolveBackup }] = await Promise.all([import("../../migrate/backup.js"), import("../../migrate/backup-catalog.js")]);
  const deps = await backupDeps(ctx);
  const task = ctx.io.task(`${user}: starting`);
  try {
    const backup = await resolveBackup(deps.objects, user, from);
    if (!ctx.globals.yes) {
      task.stop();
      const ok = await ctx.prompt.confirm({ message: `Replace all of ${user}'s /data with backup ${backup.id} of ${backup.time}? The agent stops meanwhile.`, flag: "--yes", default: false });
      if (!ok) throw new CancelledError("restore cancelled; nothing was changed");
    }
    const withStep: BackupDeps = { ...deps, step: (text) => task.update(`${user}: ${text}`) };
    return await restoreUser(withStep, user, backup.id);
  } finally {
    task.stop();
    await deps.close();
  }
}

const COLUMNS: Column<BackupOutcome>[] = [
  { name: "user", value: (r) => r.user },
  { name: "result", value: (r) => r.result },
  { name: "backup", value: (r) => r.backup?.backupId },
  { name: "size", value: (r) => r.backup ? mib(r.backup.bytes) : null },
  { name: "sha256", value: (r) => r.backup?.sha256.slice(0, 16) },
  { name: "error", value: (r) => r.error?.message.split("\n")[0] ?? null },
];

function renderOne(ctx: Context, r: BackupResult): void {
  ctx.io.success(`backup ${r.backupId} of ${r.user}: ${r.files} files, ${mib(r.dataBytes)}, verified (agent paused ${(r.frozenMs / 1000).toFixed(1)} s)`);
  renderDetails(ctx.io, [["backup", r.backupId], ["archive", r.key], ["manifest", r.manifestKey], ["sha256", r.sha256], ["bytes", r.bytes], ["created", r.createdAt], ["verified", r.verifiedAt],
    ["environment", `${r.env.names.length} variable${r.env.names.length === 1 ? "" : "s"}, sealed with fleet key ${r.env.key}`]]);
  ctx.io.info(`restore it with: automna restore ${r.user} --from ${r.backupId}`);
}

export const backupCommand: CommandModule = {
  register(command: Command, ctx: Context) {
    addOutputFlag(addSelectionFlags(command
      .argument("[users...]", "user ids (or -l, or --all)"), "every user with a live instance")
      .option("--concurrency <n>", "users backed up at once", "4"))
      .addHelpText("after", examples("automna backup alice", "automna backup --all --concurrency 8 --yes", "automna backup -l plan=pro", "automna backup list alice -o csv", "automna backup prune --keep-last 7 --keep-within 7d"))
      .action(action(ctx, async (users: string[], flags: SelectionFlags & { concurrency: string; output?: string }) => {
        const format = resolveFormat(flags.output, ctx.globals.json, DOCUMENT_FORMATS);
        const concurrency = parseInteger("--concurrency", flags.concurrency, 1, 64);
        const selected = await selectUsers(ctx, users, flags, { command: "backup", allMayBeEmpty: true });
        if (selected.length === 0) {
          ctx.io.info("no user has a live instance: nothing to back up");
          return 0;
        }
        const one = selected.length === 1 && !flags.all && flags.selector === undefined;
        const results = await runBackups(ctx, selected, concurrency, one);
        const failed = results.filter((r) => r.result === "failed").length;
        if (one) {
          if (failed) throw failureOf(results[0]!);
          const r = results[0]!.backup!;
          return format === "table" ? renderOne(ctx, r) : renderDocument(ctx.io, format, r, () => undefined);
        }
        const summary = { verified: results.length - failed, failed };
        renderDocument(ctx.io, format, { results, summary }, () => {
          renderList(ctx.io, results, COLUMNS, { format: "table" });
          ctx.io.info(`${summary.verified} backed up and verified, ${failed} failed`);
        });
        if (failed === 0) return 0;
        return failed === results.length ? 1 : 3;
      }));
    registerBackupCatalog(command, ctx);
  },
};

export const restoreCommand: CommandModule = {
  register(command: Command, ctx: Context) {
    addOutputFlag(command
      .argument("<user>", "user id")
      .requiredOption("--from <backup>", "latest (the newest verified backup) or a backup id (automna backup list)"))
      .addHelpText("after", examples("automna restore alice --from latest --yes", "automna restore alice --from bk_m3x9k2a1b7f3c2d1"))
      .action(action(ctx, async (user: string, flags: { from: string; output?: string }) => {
        const format = resolveFormat(flags.output, ctx.globals.json, DOCUMENT_FORMATS);
        const r = await runRestore(ctx, user, flags.from);
        if (r.envMissing) ctx.io.warn(`${user}: ${r.envMissing}`);
        if (format !== "table") return renderDocument(ctx.io, format, r, () => undefined);
        ctx.io.success(`${user}: /data restored from ${r.backupId} (${r.files} files, ${mib(r.dataBytes)}); agent healthy after ${(r.downtimeMs / 1000).toFixed(1)} s`);
      }));
  },
};
