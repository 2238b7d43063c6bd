import type { Context } from "../../context.js";
import { NotFoundError, UsageError } from "../../lib/errors.js";
import { renderDetails, renderList, type Column, type OutputFormat } from "../../lib/output.js";
import type { JournalEntry, Operation, OperationStatus } from "../../state/types.js";

/** Migrations that still need someone (resume or roll back), listed first. */
const UNFINISHED: OperationStatus[] = ["running", "rolling_back", "failed"];

export interface MigrationRow {
  op: string;
  user: string;
  status: string;
  step: string | null;
  from: string;
  to: string;
  createdAt: string;
  updatedAt: string;
  error: string | null;
}

export interface MigrationDetail extends MigrationRow {
  params: Record<string, unknown>;
  journal: JournalEntry[];
}

function row(op: Operation): MigrationRow {
  return {
    op: op.id, user: op.user, status: op.status, step: op.step, from: String(op.params.from ?? ""), to: String(op.params.to ?? ""),
    createdAt: op.createdAt, updatedAt: op.updatedAt, error: op.error,
  };
}

/** Every migration (unfinished first, then the newest), or one with its journal. */
export async function runMigrateStatus(ctx: Context, opId: string | undefined, limit: number): Promise<MigrationRow[] | MigrationDetail> {
  const state = await ctx.state();
  if (opId !== undefined) {
    if (!/^op_[a-z0-9]+$/.test(opId)) throw new UsageError(`"${opId}" is not an operation id (op_...)`);
    const op = await state.getOperation(opId);
    if (!op || op.kind !== "migrate") throw new NotFoundError(`no migration ${opId}`, { hint: "automna migrate status lists them" });
    return { ...row(op), params: op.params, journal: await state.listJournal(op.id) };
  }
  // Every unfinished one (however old) and the newest `limit`: never the whole history.
  const lists = await Promise.all([
    ...UNFINISHED.map((status) => state.listOperations({ kind: "migrate", status })),
    state.listOperations({ kind: "migrate", limit }),
  ]);
  const ops = [...new Map(lists.flat().map((o) => [o.id, o])).values()];
  const unfinished = (o: Operation): number => (UNFINISHED.includes(o.status) ? 0 : 1);
  return ops.sort((a, b) => unfinished(a) - unfinished(b) || (a.id < b.id ? 1 : -1)).slice(0, limit).map(row);
}

const COLUMNS: Column<MigrationRow>[] = [
  { name: "op", value: (r) => r.op },
  { name: "user", value: (r) => r.user },
  { name: "status", value: (r) => r.status },
  { name: "step", value: (r) => r.step },
  { name: "from", value: (r) => r.from },
  { name: "to", value: (r) => r.to },
  { name: "updated", value: (r) => r.updatedAt },
  { name: "created", value: (r) => r.createdAt, optional: true },
  { name: "error", value: (r) => r.error?.split("\n")[0] ?? null },
];

function entryText(e: JournalEntry): string {
  const d = e.data;
  if (typeof d.error === "string") return d.error.split("\n")[0]!;
  if (typeof d.summary === "string") return d.summary;
  return "";
}

export function renderMigrateStatus(ctx: Context, result: MigrationRow[] | MigrationDetail, format: OutputFormat, columns?: string[], noHeader?: boolean): void {
  if (Array.isArray(result)) return renderList(ctx.io, result, COLUMNS, { format, columns, noHeader });
  if (format === "json") return ctx.io.json(result);
  if (format !== "table") throw new UsageError(`-o ${format} is for the list of migrations; use -o json for one`);
  renderDetails(ctx.io, [
    ["op", result.op], ["user", result.user], ["status", result.status], ["step", result.step], ["from", result.from], ["to", result.to],
    ["region", String(result.params.region ?? "")], ["size", String(result.params.size ?? "")], ["created", result.createdAt], ["updated", result.updatedAt], ["error", result.error],
  ]);
  ctx.io.out();
  renderList(ctx.io, result.journal, [
    { name: "seq", value: (e) => e.seq, align: "right" },
    { name: "at", value: (e) => e.at },
    { name: "step", value: (e) => e.step },
    { name: "phase", value: (e) => e.phase },
    { name: "detail", value: (e) => entryText(e) || null },
  ], { format: "table" });
}
