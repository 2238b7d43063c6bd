import type { Command } from "commander";
import type { Context } from "../context.js";
import { action, examples, type CommandModule } from "../lib/command.js";
import { CancelledError, errorJson } from "../lib/errors.js";
import { addListFlags, listOptionsFrom, renderList, type Column, type ListFlags } from "../lib/output.js";
import { parseInteger } from "../lib/validate.js";
import type { Instance } from "../state/types.js";

export interface GcRow {
  user: string;
  provider: string;
  instanceId: string;
  retireUntil: string | null;
  /** `due`: past its grace period (dry run); `destroyed`; `failed`. */
  result: "due" | "destroyed" | "failed";
  removed: string[];
  error: { code: string; message: string; hint?: string } | null;
}

export interface GcOptions {
  dryRun: boolean;
  concurrency: number;
  /** `--delete-data`: also the data a retired source keeps apart from its instance (a Cloudflare sandbox's R2 prefix). */
  deleteData?: boolean;
}

function due(row: Instance, now: Date): boolean {
  const until = typeof row.meta.retireUntil === "string" ? Date.parse(row.meta.retireUntil) : NaN;
  // A retired row without a deadline (made by hand) is never collected: destroy --force is for that.
  return Number.isFinite(until) && until <= now.getTime();
}

/**
 * Destroys retired migration sources whose grace period is over, each under its user's lease,
 * and removes the migration's archives from object storage (best effort); aborts the multipart
 * uploads nobody will finish (src/migrate/abandoned.ts), saying so on stderr.
 */
export async function runGc(ctx: Context, opts: GcOptions): Promise<GcRow[]> {
  const state = await ctx.state();
  const now = ctx.clock.now();
  const rows = (await state.listInstances({ role: "retired" })).filter((r) => due(r, now));
  const base = (r: Instance): Omit<GcRow, "result" | "removed" | "error"> => ({
    user: r.user, provider: r.provider, instanceId: r.id, retireUntil: typeof r.meta.retireUntil === "string" ? r.meta.retireUntil : null,
  });
  await abandonedUploads(ctx, opts.dryRun);
  if (opts.dryRun || rows.length === 0) return rows.map((r) => ({ ...base(r), result: "due", removed: [], error: null }));
  if (!ctx.globals.yes) {
    const ok = await ctx.prompt.confirm({ message: `Destroy ${rows.length} retired source${rows.length === 1 ? "" : "s"} past the grace period (${rows.slice(0, 5).map((r) => r.user).join(", ")}${rows.length > 5 ? ", ..." : ""})?`, flag: "--yes", default: false });
    if (!ok) throw new CancelledError("gc cancelled; nothing was changed");
  }
  const [{ withLease }, { mapConcurrent }, { destroyUser }, registry, who] = await Promise.all([
    import("../state/lease.js"), import("../lib/concurrency.js"), import("../fleet/destroy-user.js"), ctx.providers(), ctx.operator(),
  ]);
  const objects = await storageClient(ctx);
  const dns = await (await import("../migrate/deps.js")).dnsFromConfig(ctx);
  const { forget } = await (await import("../access/provision-keys.js")).provisionAccess(ctx);
  const board = ctx.io.board();
  try {
    return await mapConcurrent(rows, opts.concurrency, async (row): Promise<GcRow> => {
      try {
        const out = await withLease(state, row.user, { who, operation: "gc" }, (lease) =>
          destroyUser({ state, registry, who, now: () => ctx.clock.now(), step: (t) => board.update(row.user, t), forget, dns, deleteData: opts.deleteData === true }, row.user, lease, (r) => r.id === row.id));
        const op = typeof row.meta.retiredBy === "string" ? row.meta.retiredBy : null;
        if (objects && op) {
          for (const name of ["warm", "final"]) await objects.deleteObject(`migrations/${row.user}/${op}/${name}.tar`).catch(() => undefined);
        }
        board.done(row.user, `retired ${row.provider} source destroyed`);
        return { ...base(row), result: "destroyed", removed: out.removed, error: null };
      } catch (error) {
        const e = errorJson(error);
        board.fail(row.user, e.message);
        return { ...base(row), result: "failed", removed: [], error: e };
      }
    });
  } finally {
    board.close();
    await objects?.close();
    await dns?.provider.close();
  }
}

/** Aborts (or, in a dry run, names) the uploads nobody will finish; a store that cannot be asked is a warning. */
async function abandonedUploads(ctx: Context, dryRun: boolean): Promise<void> {
  const objects = await storageClient(ctx);
  if (!objects) return;
  try {
    const { abandonedUploads: find, abortAbandonedUploads } = await import("../migrate/abandoned.js");
    const state = await ctx.state();
    const keys = dryRun ? (await find(state, objects)).map((u) => u.key) : await abortAbandonedUploads(state, objects);
    if (keys.length) ctx.io.info(`${dryRun ? "would abort" : "aborted"} ${keys.length} abandoned upload${keys.length === 1 ? "" : "s"}: ${keys.slice(0, 5).join(", ")}${keys.length > 5 ? ", ..." : ""}`);
  } catch (error) {
    ctx.io.warn(`could not look for abandoned uploads: ${(error as Error).message}`);
  } finally {
    await objects.close();
  }
}

async function storageClient(ctx: Context): Promise<import("../lib/s3-objects.js").StorageClient | null> {
  const config = await ctx.config();
  if (!config.getString("storage.endpoint")) return null;
  const [{ storageSettingsFromConfig }, { StorageClient }] = await Promise.all([import("../lib/s3-presign.js"), import("../lib/s3-objects.js")]);
  return new StorageClient(storageSettingsFromConfig(config), { signal: ctx.signal, debug: (line) => ctx.io.debug(line) });
}

const COLUMNS: Column<GcRow>[] = [
  { name: "user", value: (r) => r.user },
  { name: "provider", value: (r) => r.provider },
  { name: "retireUntil", header: "KEPT UNTIL", value: (r) => r.retireUntil },
  { name: "result", value: (r) => r.result },
  { name: "removed", value: (r) => r.removed.join(", ") || null, optional: true },
  { name: "error", value: (r) => r.error?.message.split("\n")[0] ?? null },
];

export const gcCommand: CommandModule = {
  register(command: Command, ctx: Context) {
    addListFlags(command
      .option("--dry-run", "list what is due; destroy nothing")
      .option("--concurrency <n>", "sources destroyed at once", "8")
      .option("--delete-data", "also delete data a source keeps apart from its instance (a Cloudflare sandbox's R2 prefix, kept otherwise)"), COLUMNS)
      .addHelpText("after", examples("automna gc --dry-run", "automna gc --yes"))
      .action(action(ctx, async (flags: ListFlags & { dryRun?: boolean; deleteData?: boolean; concurrency: string }) => {
        const output = listOptionsFrom(flags, ctx.globals.json);
        const rows = await runGc(ctx, { dryRun: flags.dryRun === true, deleteData: flags.deleteData === true, concurrency: parseInteger("--concurrency", flags.concurrency, 1, 64) });
        renderList(ctx.io, rows, COLUMNS, output);
        if (output.format === "table" && rows.length === 0) ctx.io.info("nothing to collect");
        const failed = rows.filter((r) => r.result === "failed").length;
        if (failed === 0) return 0;
        return failed === rows.length ? 1 : 3;
      }));
  },
};
