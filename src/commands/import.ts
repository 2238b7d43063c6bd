import { readFileSync } from "node:fs";
import type { Command } from "commander";
import type { Context } from "../context.js";
import type { ImportEntry } from "../fleet/import-entries.js";
import type { ImportOutcome } from "../fleet/import-user.js";
import { action, examples, type CommandModule } from "../lib/command.js";
import { AuthError, NotFoundError, UsageError } from "../lib/errors.js";
import { renderList, type Column } from "../lib/output.js";
import { readStdin } from "../lib/secret-input.js";
import { parseInteger } from "../lib/validate.js";

export interface ImportOptions {
  fromFile?: string | undefined;
  match?: string | undefined;
  provider?: string | undefined;
  acceptHostKey: boolean;
  dryRun: boolean;
  concurrency: number;
}

export interface ImportReport {
  dryRun: boolean;
  results: ImportOutcome[];
  summary: Record<ImportOutcome["result"], number>;
}

/** The users to take over, from the mapping file or the `--match` rule; a bad mapping imports nothing. */
async function collectEntries(ctx: Context, opts: ImportOptions): Promise<{ entries: ImportEntry[]; ambiguous: { user: string; ids: string[] }[] }> {
  const registry = await ctx.providers();
  const { entriesFromMatch, entriesFromRows } = await import("../fleet/import-entries.js");
  if (opts.match !== undefined) {
    if (!opts.provider) throw new UsageError("--match needs --provider", { hint: "e.g. automna import --match 'agent-{user}' --provider hetzner" });
    const found = await entriesFromMatch(registry, registry.resolve(opts.provider).id, opts.match);
    if (found.entries.length + found.ambiguous.length === 0) throw new NotFoundError(`no ${registry.resolve(opts.provider).title} resource has a name like ${opts.match}`);
    return found;
  }
  const source = opts.fromFile === "-" ? "stdin" : opts.fromFile!;
  let text: string;
  try {
    text = opts.fromFile === "-" ? await readStdin(ctx.io.streams.stdin) : readFileSync(opts.fromFile!, "utf8");
  } catch (error) {
    throw new UsageError(`--from-file: cannot read ${source}: ${(error as Error).message}`);
  }
  const { parseMapping, rowsError } = await import("../fleet/import-mapping.js");
  const parsed = parseMapping(text, source);
  const checked = await entriesFromRows(registry, parsed.rows);
  const problems = [...parsed.problems, ...checked.problems];
  if (problems.length) throw rowsError(source, problems);
  return { entries: checked.entries, ambiguous: [] };
}

export async function runImport(ctx: Context, opts: ImportOptions): Promise<ImportReport> {
  if ((opts.fromFile === undefined) === (opts.match === undefined)) {
    throw new UsageError(opts.match === undefined ? "say what to import: --from-file FILE (- for stdin) or --match PATTERN --provider P" : "give --from-file or --match, not both");
  }
  if (opts.provider && opts.match === undefined) throw new UsageError("--provider goes with --match (a mapping names each row's provider)");
  const { entries, ambiguous } = await collectEntries(ctx, opts);
  const registry = await ctx.providers();
  const untokened = [...new Set(entries.map((e) => e.provider.id))].filter((id) => !registry.configured().some((p) => p.id === id));
  if (untokened.length) {
    const info = registry.resolve(untokened[0]!);
    throw new AuthError(`no ${info.title} API token, needed to find the resources to import; nothing was imported`, { hint: `export ${info.tokenEnv}=<token>` });
  }
  const [state, config] = await Promise.all([ctx.state(), ctx.config()]);
  const { importUser, resourceKeys } = await import("../fleet/import-user.js");
  const owners = new Map<string, string>();
  for (const id of new Set(entries.map((e) => e.provider.id))) {
    for (const row of await state.listInstances({ provider: id })) for (const key of resourceKeys(id, row.resources)) owners.set(key, row.user);
  }
  const port = config.getNumber("ssh.port") ?? 22;
  const { scanHostKeys } = await import("../access/host-key-scan.js");
  const { pin } = await (await import("../access/provision-keys.js")).provisionAccess(ctx);
  const { mapConcurrent } = await import("../lib/concurrency.js");
  const board = ctx.io.board();
  const job = {
    state, who: await ctx.operator(), now: () => ctx.clock.now(), dryRun: opts.dryRun, via: opts.match === undefined ? { file: opts.fromFile! } : { match: opts.match },
    step: (user: string, text: string) => board.update(user, text), pin, owners,
    scanHostKeys: opts.acceptHostKey ? (address: string) => scanHostKeys(address, port, { signal: ctx.signal }) : undefined,
  };
  let results: ImportOutcome[];
  try {
    results = await mapConcurrent(entries, opts.concurrency, async (entry) => {
      const outcome = await importUser(job, entry);
      if (outcome.error) board.fail(entry.user, outcome.error.message);
      else board.done(entry.user, outcome.result === "already-imported" ? "already imported, nothing changed" : outcome.result.replace("-", " "));
      return outcome;
    });
  } finally {
    board.close();
  }
  for (const a of ambiguous) {
    results.push({
      user: a.user, provider: registry.resolve(opts.provider!).id, id: a.ids.join(" "), line: null, result: "refused", name: null, region: null, size: null, status: null, instanceId: null,
      resources: {}, addresses: {}, monthlyPrice: null, currency: null, hostKey: null,
      error: { code: "ambiguous", message: `${a.user} matches ${a.ids.length} resources (${a.ids.join(", ")})`, hint: "import it from a mapping file that names the one" },
    });
  }
  const summary = { imported: 0, "already-imported": 0, "would-import": 0, refused: 0, failed: 0 };
  for (const r of results) summary[r.result]++;
  return { dryRun: opts.dryRun, results, summary };
}

const COLUMNS: Column<ImportOutcome>[] = [
  { name: "user", value: (r) => r.user },
  { name: "result", value: (r) => r.result },
  { name: "provider", value: (r) => r.provider },
  { name: "id", value: (r) => r.id },
  { name: "region", value: (r) => r.region },
  { name: "size", value: (r) => r.size },
  { name: "monthly", value: (r) => (r.monthlyPrice === null ? null : `${r.monthlyPrice.toFixed(2)} ${r.currency ?? ""}`.trim()), align: "right" },
  { name: "host key", value: (r) => (r.hostKey === null ? null : r.hostKey.fingerprints[0] ?? "not accepted") },
  { name: "error", value: (r) => r.error?.message.split("\n")[0] ?? null },
];

/** What the run did, in words, and the exit code: 3 when some users were refused or failed, 1 when all were. */
function conclude(ctx: Context, report: ImportReport): number {
  const s = report.summary;
  for (const r of report.results) {
    if (r.hostKey?.accepted && r.result !== "would-import") ctx.io.info(`${r.user}: SSH host key accepted on first use and pinned: ${r.hostKey.fingerprints.join(", ")}`);
  }
  const unaccepted = report.results.filter((r) => r.hostKey && !r.hostKey.accepted && r.result !== "refused" && r.result !== "failed").map((r) => r.user);
  if (unaccepted.length) {
    ctx.io.warn(`no SSH host key accepted for ${unaccepted.join(", ")}: ssh, exec and migrate refuse ${unaccepted.length === 1 ? "that machine" : "those machines"} until you run the import again with --accept-host-key`);
  }
  const bad = s.refused + s.failed;
  const done = report.dryRun ? `${s["would-import"]} would be imported` : `${s.imported} imported`;
  ctx.io.info(`${done}, ${s["already-imported"]} already imported, ${s.refused} refused, ${s.failed} failed${report.dryRun ? "; dry run, nothing changed" : ""}`);
  if (bad === 0) return 0;
  return bad === report.results.length ? 1 : 3;
}

export const importCommand: CommandModule = {
  register(command: Command, ctx: Context) {
    command
      .option("--from-file <file>", "a mapping of users to resources: CSV user,provider,id[,data] or a JSON array (- for stdin)")
      .option("--match <pattern>", "take over every resource whose name fits the pattern, {user} standing for the user id (with --provider)")
      .option("--provider <name>", "the provider --match looks at: hetzner, fly, digitalocean (do)")
      .option("--accept-host-key", "record the SSH host key each VM presents now and print its fingerprint (trust on first use)")
      .option("--dry-run", "show what would be imported; change nothing")
      .option("--concurrency <n>", "users imported at once", "8")
      .addHelpText("after", examples(
        "automna import --from-file users.csv --dry-run",
        "automna import --from-file users.csv --accept-host-key",
        "automna import --match 'agent-{user}' --provider hetzner --accept-host-key",
        "printf 'user,provider,id\\nalice,fly,agent-alice\\n' | automna import --from-file -",
      ))
      .action(action(ctx, async (raw: Omit<ImportOptions, "concurrency" | "dryRun" | "acceptHostKey"> & { concurrency: string; dryRun?: boolean; acceptHostKey?: boolean }) => {
        const report = await runImport(ctx, {
          ...raw, dryRun: raw.dryRun === true, acceptHostKey: raw.acceptHostKey === true, concurrency: parseInteger("--concurrency", raw.concurrency, 1, 64),
        });
        if (ctx.globals.json) ctx.io.json(report);
        else renderList(ctx.io, report.results, COLUMNS, { format: "table" });
        return conclude(ctx, report);
      }));
  },
};
