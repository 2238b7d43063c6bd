import type { Command } from "commander";
import type { Context } from "../../context.js";
import { action, examples } from "../../lib/command.js";
import { UsageError } from "../../lib/errors.js";
import { addListFlags, addOutputFlag, DOCUMENT_FORMATS, listOptionsFrom, mib, renderDocument, renderList, resolveFormat, type Column, type ListFlags } from "../../lib/output.js";
import { confirmRisk } from "../../lib/prompt.js";
import { parseDuration, parseInteger, validateUsers } from "../../lib/validate.js";
import type { BackupRecord, PrunePlan } from "../../migrate/backup-catalog.js";

/** `backup list` and `backup prune`: what object storage holds, read from the backups' manifests. */

async function withObjects<T>(ctx: Context, fn: (objects: import("../../lib/s3-objects.js").StorageClient) => Promise<T>): Promise<T> {
  const [{ storageSettingsFromConfig }, { StorageClient }] = await Promise.all([import("../../lib/s3-presign.js"), import("../../lib/s3-objects.js")]);
  const objects = new StorageClient(storageSettingsFromConfig(await ctx.config()), { signal: ctx.signal, debug: (line) => ctx.io.debug(line) });
  try {
    return await fn(objects);
  } finally {
    await objects.close();
  }
}

const COLUMNS: Column<BackupRecord>[] = [
  { name: "id", value: (b) => b.id },
  { name: "user", value: (b) => b.user },
  { name: "time", value: (b) => b.time },
  { name: "size", value: (b) => b.size },
  { name: "checksum", value: (b) => b.checksum },
  { name: "provider", header: "SOURCE PROVIDER", value: (b) => b.provider },
  { name: "verified", value: (b) => b.verifiedAt ?? "no" },
  { name: "env", header: "ENV", value: (b) => (b.env ? "sealed" : "none") },
];

export async function runBackupList(ctx: Context, users: string[]): Promise<BackupRecord[]> {
  const { listBackups } = await import("../../migrate/backup-catalog.js");
  return withObjects(ctx, (objects) => listBackups(objects, users.length ? validateUsers(users) : undefined));
}

export interface PruneOptions {
  keepLast?: string | undefined;
  keepWithin?: string | undefined;
  dryRun: boolean;
}

export interface PruneResult {
  dryRun: boolean;
  kept: number;
  removed: BackupRecord[];
  bytesFreed: number;
}

/**
 * `backup prune`: shows what the rules remove first, then asks (unless --yes) and deletes,
 * manifest before archive so a half-deleted backup never counts.
 */
export async function runBackupPrune(ctx: Context, opts: PruneOptions): Promise<PruneResult> {
  if (opts.keepLast === undefined && opts.keepWithin === undefined) throw new UsageError("say what to keep: --keep-last N and/or --keep-within DURATION", { hint: "automna backup prune --keep-last 7 --keep-within 7d" });
  const keepLast = opts.keepLast === undefined ? undefined : parseInteger("--keep-last", opts.keepLast, 1, 100_000);
  const keepWithinMs = opts.keepWithin === undefined ? undefined : parseDuration("--keep-within", opts.keepWithin);
  const catalog = await import("../../migrate/backup-catalog.js");
  return withObjects(ctx, async (objects) => {
    const plan: PrunePlan = catalog.planPrune(await catalog.listBackups(objects), { keepLast, keepWithinMs }, ctx.clock.now());
    const result = { kept: plan.keep.length, removed: plan.remove, bytesFreed: plan.remove.reduce((s, b) => s + b.size, 0) };
    if (opts.dryRun || plan.remove.length === 0) return { dryRun: true, ...result };
    renderList(ctx.io, plan.remove, COLUMNS.slice(0, 4), { format: "table" });
    await confirmRisk(ctx.prompt, ctx.globals.yes, `Delete these ${plan.remove.length} backups (${mib(result.bytesFreed)}) and keep ${plan.keep.length}?`, "prune cancelled; nothing was deleted");
    const { mapConcurrent } = await import("../../lib/concurrency.js");
    await mapConcurrent(plan.remove, 8, (b) => catalog.deleteBackup(objects, b));
    return { dryRun: false, ...result };
  });
}

export function registerBackupCatalog(backup: Command, ctx: Context): void {
  addListFlags(backup
    .command("list")
    .description("the backups in object storage: id, user, time, size, checksum, source provider, when verified")
    .argument("[users...]", "only these users"), COLUMNS)
    .addHelpText("after", examples("automna backup list", "automna backup list alice -o csv"))
    .action(action(ctx, async (users: string[], own: ListFlags, command: Command) => {
      // `-o` after the subcommand is parsed by `backup` itself (its own -o): take it from there too.
      const flags = { ...own, output: own.output ?? (command.optsWithGlobals() as { output?: string }).output };
      const output = listOptionsFrom(flags, ctx.globals.json);
      const rows = await runBackupList(ctx, users);
      if (rows.length === 0 && output.format === "table") return void ctx.io.info(users.length ? `no backups of ${users.join(", ")}` : "no backups yet (automna backup --all)");
      renderList(ctx.io, rows, COLUMNS, output);
    }));

  addOutputFlag(backup
    .command("prune")
    .description("delete old backups: keeps each user's last N verified and all younger than a duration (and always the newest verified); shows the plan, asks unless --yes")
    .option("--keep-last <n>", "keep each user's newest N verified backups")
    .option("--keep-within <duration>", "keep every backup younger than this (7d, 48h)")
    .option("--dry-run", "only show what would be deleted"))
    .addHelpText("after", examples("automna backup prune --keep-last 7 --keep-within 7d --dry-run", "automna backup prune --keep-last 3 --yes"))
    .action(action(ctx, async (own: { keepLast?: string; keepWithin?: string; dryRun?: boolean; output?: string }, command: Command) => {
      const format = resolveFormat(own.output ?? (command.optsWithGlobals() as { output?: string }).output, ctx.globals.json, DOCUMENT_FORMATS);
      const r = await runBackupPrune(ctx, { keepLast: own.keepLast, keepWithin: own.keepWithin, dryRun: own.dryRun === true });
      renderDocument(ctx.io, format, r, () => {
        if (r.removed.length === 0) return ctx.io.success(`nothing to prune: all ${r.kept} backups are kept by the rules`);
        if (r.dryRun) {
          renderList(ctx.io, r.removed, COLUMNS.slice(0, 4), { format: "table" });
          return ctx.io.info(`dry run: would delete ${r.removed.length} backups (${mib(r.bytesFreed)}) and keep ${r.kept}`);
        }
        ctx.io.success(`deleted ${r.removed.length} backups (${mib(r.bytesFreed)}); kept ${r.kept}`);
      });
    }));
}
