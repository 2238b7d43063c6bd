import type { Command } from "commander";
import type { Context } from "../../context.js";
import { action, examples, type CommandModule } from "../../lib/command.js";
import { UsageError } from "../../lib/errors.js";
import { addListFlags, listOptionsFrom, mib, renderDocument, renderList, resolveFormat, type Column, type ListFlags } from "../../lib/output.js";
import { parseInteger } from "../../lib/validate.js";
import { providerChoices } from "../../providers/catalog.js";
import { count } from "../../lib/words.js";
import { progress } from "./progress.js";
import { finishRun } from "./render.js";
import type { DryRunReport, DryRunRow } from "./run.js";
import type { VerifyMode } from "../../migrate/types.js";

interface MigrateFlags {
  all?: boolean;
  selector?: string;
  from?: string;
  to?: string;
  region?: string;
  size?: string;
  image?: string;
  dryRun?: boolean;
  concurrency: string;
  keepSource: string;
  verify: string;
  output?: string;
}

const DRY_COLUMNS: Column<DryRunRow>[] = [
  { name: "user", value: (r) => r.user },
  { name: "from", value: (r) => r.from },
  { name: "to", value: (r) => `${r.to} ${r.region} ${r.size}` },
  { name: "before", header: "MONTHLY NOW", value: (r) => (r.monthlyBefore === null ? null : `${r.monthlyBefore.toFixed(2)} ${r.currencyBefore}`), align: "right" },
  { name: "after", header: "MONTHLY AFTER", value: (r) => `${r.monthlyAfter.toFixed(2)} ${r.currencyAfter}`, align: "right" },
  { name: "data", value: (r) => (r.dataBytes === null ? null : mib(r.dataBytes)), align: "right" },
];

function renderDryRun(ctx: Context, report: DryRunReport, format: RunFormat): void {
  if (format === "json" || format === "yaml") return renderDocument(ctx.io, format, report, () => undefined);
  if (format === "ndjson") {
    for (const row of report.users) ctx.io.ndjson({ type: "plan", ...row });
    return ctx.io.ndjson({ type: "total", ...report.total });
  }
  renderList(ctx.io, report.users, DRY_COLUMNS, { format: "table" });
  const t = report.total;
  ctx.io.out();
  const change = t.saving >= 0 ? `saving ${t.saving.toFixed(2)} USD/month` : `costing ${(-t.saving).toFixed(2)} USD/month more`;
  ctx.io.out(`${count(report.users.length, "user")}, ${mib(t.dataBytes)} of data: ${t.before.toFixed(2)} -> ${t.after.toFixed(2)} USD/month, ${change}`);
  ctx.io.info("dry run: nothing was changed");
}

function parseVerify(value: string): VerifyMode {
  if (value !== "quick" && value !== "full") throw new UsageError(`--verify must be quick or full, got "${value}"`);
  return value;
}

/** A run's formats: the board and a table, one document at the end, or a stream of progress events. */
const RUN_FORMATS = ["table", "json", "yaml", "ndjson"] as const;
export type RunFormat = (typeof RUN_FORMATS)[number];

function format(ctx: Context, output: string | undefined): RunFormat {
  return resolveFormat(output, ctx.globals.json, RUN_FORMATS) as RunFormat;
}

export const migrateCommand: CommandModule = {
  register(command: Command, ctx: Context) {
    // commander gives `-o` to migrate when it follows a subcommand's name (`migrate status -o
    // yaml`), as migrate declares it too: a subcommand takes it from there.
    const outputOf = (flags: { output?: string }): string | undefined => flags.output ?? migrate.opts<{ output?: string }>().output;
    const migrate = command
      .argument("[users...]", "user ids (or -l, or --all)")
      .option("--all", "every user live on --from")
      .option("-l, --selector <selector>", "the users live on --from whose labels match (plan=pro,cohort!=beta)")
      .option("--from <provider>", `where they run now: ${providerChoices()}`)
      .option("--to <provider>", "where they move")
      .option("--region <region>", "target region (default: the provider's default)")
      .option("--size <size>", "target size (default: the provider's default)")
      .option("--image <ref>", "agent image for the target (default: the source's)")
      .option("--dry-run", "show targets, monthly prices before and after, data sizes and the saving; change nothing")
      .option("--concurrency <n>", "users migrated at once", "4")
      .option("--keep-source <duration>", "how long the retired source is kept before gc may destroy it", "72h")
      .option("--verify <mode>", "quick: listings and the changed files' sha256 (downtime independent of /data's size); full: also every file's sha256 on both sides while frozen", "quick")
      .option("-o, --output <format>", "table (default), json, yaml, or ndjson (a stream of progress events)")
      .addHelpText("after", examples(
        "automna migrate alice --from fly --to hetzner",
        "automna migrate --all --from fly --to hetzner --dry-run",
        "automna migrate -l cohort=beta --from fly --to hetzner --yes",
        "automna migrate --all --from fly --to hetzner --concurrency 8 --yes -o ndjson",
        "automna migrate alice --from hetzner --to digitalocean --verify full",
        "automna migrate status",
        "automna migrate resume op_m3x9k2a1b7f3c2d1",
        "automna migrate abandon op_m3x9k2a1b7f3c2d1 --yes",
      ))
      .action(action(ctx, async (users: string[], flags: MigrateFlags) => {
        const fmt = format(ctx, flags.output);
        if (!flags.from || !flags.to) throw new UsageError("--from and --to are required", { hint: "automna migrate alice --from fly --to hetzner" });
        const { runMigrate } = await import("./run.js");
        const result = await runMigrate(ctx, {
          users, all: flags.all === true, selector: flags.selector, from: flags.from, to: flags.to, region: flags.region, size: flags.size, image: flags.image, dryRun: flags.dryRun === true,
          concurrency: parseInteger("--concurrency", flags.concurrency, 1, 64), keepSource: flags.keepSource, verify: parseVerify(flags.verify), ndjson: fmt === "ndjson",
        }, () => progress(ctx, fmt === "ndjson"));
        if (!Array.isArray(result)) return renderDryRun(ctx, result, fmt);
        return finishRun(ctx, result, fmt);
      }));

    addListFlags(migrate
      .command("status")
      .description("unfinished and recent migrations, or one with its journal")
      .argument("[op-id]", "an operation id"), "columns: op,user,status,step,from,to,updated,created,error", undefined, "at most this many (default: 50)")
      .action(action(ctx, async (opId: string | undefined, flags: ListFlags) => {
        const { runMigrateStatus, renderMigrateStatus } = await import("../../migrate/operation-status.js");
        const output = listOptionsFrom({ ...flags, output: outputOf(flags) }, ctx.globals.json);
        const result = await runMigrateStatus(ctx, opId, parseInteger("--limit", flags.limit ?? "50", 1, 100_000));
        renderMigrateStatus(ctx, result, output);
      }));

    migrate
      .command("abandon")
      .description("close an unfinished migration without resuming or rolling it back, after showing what it leaves at the providers; asks first unless --yes")
      .argument("<op-id>", "the operation id (automna migrate status)")
      .action(action(ctx, async (opId: string) => {
        const { runMigrateAbandon, renderAbandon } = await import("./abandon.js");
        await renderAbandon(ctx, await runMigrateAbandon(ctx, opId));
      }));

    for (const verb of ["resume", "rollback"] as const) {
      migrate
        .command(verb)
        .description(verb === "resume"
          ? "continue a migration from the first step not confirmed done (or finish its rollback); asks first unless --yes"
          : "undo a migration that has not reached the DNS switch (refused after it, exit 2); asks first unless --yes")
        .argument("<op-id>", "the operation id (automna migrate status)")
        .option("-o, --output <format>", RUN_FORMATS.join(", "))
        .action(action(ctx, async (opId: string, flags: { output?: string }) => {
          const fmt = format(ctx, outputOf(flags));
          const { runMigrateOp } = await import("./run.js");
          const outcome = await runMigrateOp(ctx, verb, opId, () => progress(ctx, fmt === "ndjson"), fmt === "ndjson");
          if (verb === "rollback" && outcome.result === "rolled_back" && fmt !== "ndjson") {
            if (fmt === "json" || fmt === "yaml") renderDocument(ctx.io, fmt, { results: [outcome], summary: { migrated: 0, rolledBack: 1, failed: 0 } }, () => undefined);
            else if (outcome.unrestored) ctx.io.warn(`${outcome.op}: rolled back, but ${outcome.unrestored.join("; ")}`);
            else ctx.io.success(`${outcome.op}: rolled back; ${outcome.user} runs on ${outcome.from} as before`);
            return 0;
          }
          return finishRun(ctx, [outcome], fmt);
        }));
    }
  },
};
