import type { Context } from "../../context.js";
import { AutomnaError, failureOf } from "../../lib/errors.js";
import { mib, renderDocument, renderList, type Column } from "../../lib/output.js";
import type { MigrateOutcome } from "../../migrate/types.js";

export interface MigrateSummary {
  migrated: number;
  rolledBack: number;
  failed: number;
}

export function summarize(results: MigrateOutcome[]): MigrateSummary {
  return {
    migrated: results.filter((r) => r.result === "migrated").length,
    rolledBack: results.filter((r) => r.result === "rolled_back").length,
    failed: results.filter((r) => r.result === "failed").length,
  };
}

const COLUMNS: Column<MigrateOutcome>[] = [
  { name: "user", value: (r) => r.user },
  { name: "result", value: (r) => r.result },
  { name: "from", value: (r) => r.from },
  { name: "to", value: (r) => r.to },
  { name: "op", value: (r) => r.op },
  { name: "downtime", value: (r) => (r.downtimeMs === null ? null : `${(r.downtimeMs / 1000).toFixed(1)}s`), align: "right" },
  { name: "data", value: (r) => (r.bytes === null ? null : mib(r.bytes)), align: "right" },
  { name: "step", value: (r) => r.step, optional: true },
  { name: "error", value: (r) => r.error?.message.split("\n")[0] ?? null },
];

/**
 * The end of a run: the summary table (or JSON document, or NDJSON summary line) and the exit
 * code: 0 all moved, 3 some moved and some did not, 1 none moved. A single user's failure is
 * thrown as its own error, so a lock held elsewhere exits 4 with the holder named.
 */
export async function finishRun(ctx: Context, results: MigrateOutcome[], format: "table" | "json" | "yaml" | "ndjson"): Promise<number> {
  const summary = summarize(results);
  if (results.length === 1 && results[0]!.result !== "migrated") {
    // The event stream still ends with its summary line; the error (and its exit code) follows.
    if (format === "ndjson") ctx.io.ndjson({ type: "summary", ...summary });
    const cause = failureOf(results[0]!);
    if (cause) throw cause;
    {
      const r = results[0]!;
      throw new AutomnaError(`${r.user}: ${r.result === "rolled_back" ? "migration rolled back" : `migration failed at ${r.step ?? "start"}`}: ${r.error?.message ?? "unknown reason"}`, {
        code: r.result === "rolled_back" ? "rolled_back" : (r.error?.code ?? "failed"),
        hint: r.result === "rolled_back" ? `the source serves as before; details: automna migrate status ${r.op}` : `automna migrate status ${r.op}; then automna migrate resume ${r.op}`,
      });
    }
  }
  if (format === "ndjson") ctx.io.ndjson({ type: "summary", ...summary });
  else if (format === "json" || format === "yaml") renderDocument(ctx.io, format, { results, summary }, () => undefined);
  else {
    renderList(ctx.io, results, COLUMNS, { format: "table" });
    ctx.io.info(`${summary.migrated} migrated, ${summary.rolledBack} rolled back, ${summary.failed} failed`);
  }
  if (summary.migrated === results.length) return 0;
  return summary.migrated > 0 ? 3 : 1;
}
