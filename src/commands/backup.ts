import type { Command } from "commander";
import type { Context } from "../context.js";
import { action, examples, type CommandModule } from "../lib/command.js";
import { CancelledError } from "../lib/errors.js";
import { addOutputFlag, DOCUMENT_FORMATS, mib, renderDetails, renderDocument, resolveFormat } from "../lib/output.js";
import { addSelectionFlags, selectUsers, type SelectionFlags } from "../lib/selector-users.js";
import { validateUser } from "../lib/validate.js";
import { backupUser, restoreUser, type BackupDeps, type BackupResult, type RestoreResult } from "../migrate/backup.js";
import { buildEngineDeps } from "../migrate/deps.js";
import { hostRunner } from "../migrate/exec.js";

/** The engine's dependencies for one backup or restore, with a progress line. */
async function withBackupDeps<T>(ctx: Context, user: string, fn: (deps: BackupDeps) => Promise<T>): Promise<T> {
  const deps = await buildEngineDeps(ctx, await hostRunner(ctx), () => undefined);
  const task = ctx.io.task(`${user}: starting`);
  try {
    return await fn({ ...deps, step: (text) => task.update(`${user}: ${text}`) });
  } finally {
    task.stop();
    await deps.close();
  }
}

export async function runBackup(ctx: Context, user: string): Promise<BackupResult> {
  validateUser(user);
  return withBackupDeps(ctx, user, (deps) => backupUser(deps, user));
}

export async function runRestore(ctx: Context, user: string, backupId: string): Promise<RestoreResult> {
  validateUser(user);
  if (!ctx.globals.yes) {
    const ok = await ctx.prompt.confirm({ message: `Replace all of ${user}'s /data with backup ${backupId}? The agent stops meanwhile.`, flag: "--yes", default: false });
    if (!ok) throw new CancelledError("restore cancelled; nothing was changed");
  }
  return withBackupDeps(ctx, user, (deps) => restoreUser(deps, user, backupId));
}

export const backupCommand: CommandModule = {
  register(command: Command, ctx: Context) {
    addOutputFlag(addSelectionFlags(command
      .argument("[user]", "user id (or -l)")))
      .addHelpText("after", examples("automna backup alice", "automna backup alice --json", "automna backup -l plan=pro"))
      .action(action(ctx, async (user: string | undefined, flags: SelectionFlags & { output?: string }) => {
        const format = resolveFormat(flags.output, ctx.globals.json, DOCUMENT_FORMATS);
        // -l: each selected user in turn, one document per user (a list in json and yaml).
        const users = await selectUsers(ctx, user === undefined ? [] : [user], flags, { command: "backup" });
        const results: BackupResult[] = [];
        for (const u of users) {
          const r = await runBackup(ctx, u);
          results.push(r);
          if (format !== "table") continue;
          ctx.io.success(`backup ${r.backupId} of ${u}: ${r.files} files, ${mib(r.dataBytes)} (agent paused ${(r.frozenMs / 1000).toFixed(1)} s)`);
          renderDetails(ctx.io, [["backup", r.backupId], ["archive", r.key], ["manifest", r.manifestKey], ["sha256", r.sha256], ["bytes", r.bytes], ["created", r.createdAt]]);
          ctx.io.info(`restore it with: automna restore ${u} --from ${r.backupId}`);
        }
        if (format !== "table") renderDocument(ctx.io, format, flags.selector === undefined ? results[0] : results, () => undefined);
      }));
  },
};

export const restoreCommand: CommandModule = {
  register(command: Command, ctx: Context) {
    addOutputFlag(command
      .argument("<user>", "user id")
      .requiredOption("--from <backup-id>", "the backup id (automna backup prints it)"))
      .addHelpText("after", examples("automna restore alice --from bk_m3x9k2a1b7f3c2d1 --yes"))
      .action(action(ctx, async (user: string, flags: { from: string; output?: string }) => {
        const format = resolveFormat(flags.output, ctx.globals.json, DOCUMENT_FORMATS);
        const r = await runRestore(ctx, user, flags.from);
        if (format !== "table") return renderDocument(ctx.io, format, r, () => undefined);
        ctx.io.success(`${user}: /data restored from ${r.backupId} (${r.files} files, ${mib(r.dataBytes)}); agent healthy after ${(r.downtimeMs / 1000).toFixed(1)} s`);
      }));
  },
};
