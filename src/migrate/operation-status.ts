import type { Context } from "../context.js";
import { NotFoundError, UsageError } from "../lib/errors.js";
import { renderDetails, renderDocument, renderList, type Column, type ListOptions } from "../lib/output.js";
import { UNFINISHED, UNFINISHED_STATUSES } from "./unfinished.js";
import { heldByDeadProcess } from "../state/lease.js";
import type { JournalEntry, Lease, Operation } from "../state/types.js";

/** Migrations and failovers as `migrate status` and `failover status` list them: rows with the next command, or one with its journal. */

export interface MigrationRow {
  op: string;
  user: string;
  /** The recorded status, except `interrupted`: recorded running or rolling back, with no live holder. */
  status: string;
  step: string | null;
  from: string;
  to: string;
  createdAt: string;
  updatedAt: string;
  error: string | null;
  /** The command that moves it on, for an unfinished one nobody is running. */
  next: string | null;
}

export interface MigrationDetail extends MigrationRow {
  params: Record<string, unknown>;
  journal: JournalEntry[];
}

/**
 * A running or rolling-back migration whose lease nobody holds (or whose holder process is gone
 * from this machine) is `interrupted`: nothing drives it until someone resumes it.
 */
function row(op: Operation, leases: Lease[]): MigrationRow {
  const holder = leases.find((l) => l.user === op.user && l.holder.operation === op.id);
  const stopped = (op.status === "running" || op.status === "rolling_back") && (!holder || heldByDeadProcess(holder));
  const next = !UNFINISHED.has(op.status) || !(stopped || op.status === "failed") ? null
    : op.kind === "failover" ? `automna failover ${op.user} --to ${String(op.params.to ?? "")} (resumes it), or automna failover abandon ${op.id}`
    : op.status === "rolling_back" ? `automna migrate resume ${op.id} (finishes its rollback)`
      : op.status === "failed" ? `automna migrate resume ${op.id}` : `automna migrate resume ${op.id}, or automna migrate rollback ${op.id}`;
  return {
    op: op.id, user: op.user, status: stopped ? "interrupted" : op.status, step: op.step, from: String(op.params.from ?? ""), to: String(op.params.to ?? ""),
    createdAt: op.createdAt, updatedAt: op.updatedAt, error: op.error, next,
  };
}

/** Every migration (unfinished first, then the newest), or one with its journal; `kind` failover: the failovers. */
export async function runMigrateStatus(ctx: Context, opId: string | undefined, limit: number, kind: "migrate" | "failover" = "migrate"): Promise<MigrationRow[] | MigrationDetail> {
  const state = await ctx.state();
  if (opId !== undefined) {
    if (!/^op_[a-z0-9]+$/.test(opId)) throw new UsageError(`"${opId}" is not an operation id (op_...)`);
    const op = await state.getOperation(opId);
    if (!op || op.kind !== kind) throw new NotFoundError(`no ${kind === "migrate" ? "migration" : "failover"} ${opId}`, { hint: `automna ${kind} status lists them` });
    return { ...row(op, await state.listLeases()), params: op.params, journal: await state.listJournal(op.id) };
  }
  // Every unfinished one (however old) and the newest `limit`: never the whole history.
  const lists = await Promise.all([
    ...UNFINISHED_STATUSES.map((status) => state.listOperations({ kind, status })),
    state.listOperations({ kind, limit }),
  ]);
  const ops = [...new Map(lists.flat().map((o) => [o.id, o])).values()];
  const unfinished = (o: Operation): number => (UNFINISHED.has(o.status) ? 0 : 1);
  const leases = await state.listLeases();
  return ops.sort((a, b) => unfinished(a) - unfinished(b) || (a.id < b.id ? 1 : -1)).slice(0, limit).map((o) => row(o, leases));
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
  { name: "next", value: (r) => r.next, optional: true },
];

function entryText(e: JournalEntry): string {
  const d = e.data;
  if (typeof d.error === "string") return d.error.split("\n")[0]!;
  if (typeof d.summary === "string") return d.summary;
  return "";
}

export function renderMigrateStatus(ctx: Context, result: MigrationRow[] | MigrationDetail, options: ListOptions): void {
  if (Array.isArray(result)) return renderList(ctx.io, result, COLUMNS, options);
  const { format } = options;
  if (format === "csv") throw new UsageError("-o csv is for the list of migrations; use -o json or yaml for one");
  if (format !== "table") return renderDocument(ctx.io, format, result, () => undefined);
  renderDetails(ctx.io, [
    ["op", result.op], ["user", result.user], ["status", result.status], ["step", result.step], ["from", result.from], ["to", result.to],
    ["region", String(result.params.region ?? "")], ["size", String(result.params.size ?? "")], ["created", result.createdAt], ["updated", result.updatedAt], ["error", result.error], ["next", result.next],
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
