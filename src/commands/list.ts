import type { Command } from "commander";
import type { Context } from "../context.js";
import { action, examples, type CommandModule } from "../lib/command.js";
import { UsageError } from "../lib/errors.js";
import { addListFlags, listOptionsFrom, renderList, selectColumns, sortAndLimit, tableLines, type Column } from "../lib/output.js";
import { watch, watchInterval } from "../lib/watch.js";
import type { RefreshSummary } from "../fleet/refresh.js";
import { placedWhy } from "../fleet/placement.js";
import { formatLabels } from "../lib/labels.js";
import { matches, parseSelector } from "../lib/selector.js";
import { INSTANCE_STATUSES, type Instance, type InstanceFilter, type InstanceRole, type InstanceStatus, type Labels } from "../state/types.js";

export interface ListOptions {
  provider?: string | undefined;
  status?: string | undefined;
  region?: string | undefined;
  role?: string | undefined;
  selector?: string | undefined;
  refresh?: boolean | undefined;
}

/** A row of `list`: the instance plus its current monthly price from open usage intervals, and its user's labels. */
export interface ListRow extends Instance {
  monthlyPrice: number | null;
  currency: string | null;
  labels: Labels;
}

const ROLES: readonly InstanceRole[] = ["live", "target", "retired"];

/**
 * The state filter of --status and --role. `retired` is listed as a status, but what a
 * migration retires keeps its machine's status (running, stopped): it is the role that says so.
 */
function instanceFilter(opts: ListOptions): InstanceFilter {
  if (opts.status !== undefined && !INSTANCE_STATUSES.includes(opts.status as InstanceStatus)) {
    throw new UsageError(`unknown status "${opts.status}"`, { hint: `statuses: ${INSTANCE_STATUSES.join(", ")}` });
  }
  if (opts.role !== undefined && !(ROLES as readonly string[]).includes(opts.role)) {
    throw new UsageError(`unknown role "${opts.role}"`, { hint: `roles: ${ROLES.join(", ")} (live serves the user; target and retired belong to migrations)` });
  }
  const retired = opts.status === "retired";
  if (retired && opts.role !== undefined && opts.role !== "retired") throw new UsageError(`--status retired and --role ${opts.role} select nothing together`);
  return { region: opts.region, status: retired ? undefined : (opts.status as InstanceStatus | undefined), role: retired ? "retired" : (opts.role as InstanceRole | undefined) };
}

export async function runList(ctx: Context, opts: ListOptions): Promise<{ rows: ListRow[]; refresh?: RefreshSummary }> {
  const filter = instanceFilter(opts);
  const selector = opts.selector === undefined ? undefined : parseSelector(opts.selector);
  const provider = opts.provider === undefined ? undefined : (await ctx.providers()).resolve(opts.provider).id;
  const state = await ctx.state();
  let refresh: RefreshSummary | undefined;
  if (opts.refresh) {
    const { refreshState } = await import("../fleet/refresh.js");
    refresh = await refreshState({ registry: await ctx.providers(), state }, provider);
  }
  const [instances, labelled] = await Promise.all([state.listInstances({ ...filter, provider }), state.listLabels()]);
  const labels = new Map(labelled.map((l) => [l.user, l.labels]));
  // The price at creation is kept on the instance (meta), so a 10,000-row list reads one table.
  const rows = instances.filter((i) => !selector || matches(selector, labels.get(i.user))).map((i) => {
    const monthly = typeof i.meta.monthlyPrice === "number" ? i.meta.monthlyPrice : null;
    return { ...i, monthlyPrice: monthly, currency: monthly === null ? null : String(i.meta.currency ?? ""), labels: labels.get(i.user) ?? {} };
  });
  return refresh ? { rows, refresh } : { rows };
}

export const LIST_COLUMNS: Column<ListRow>[] = [
  { name: "user", value: (r) => r.user },
  { name: "provider", value: (r) => r.provider },
  { name: "region", value: (r) => r.region },
  { name: "size", value: (r) => r.size },
  // A migration's target and retired source share the user's name: say which is which.
  { name: "status", value: (r) => (r.role === "live" ? r.status : `${r.status} (${r.role})`) },
  { name: "address", value: (r) => r.addresses.ipv4 ?? r.addresses.hostname ?? r.addresses.private ?? null },
  { name: "monthly", value: (r) => (r.monthlyPrice === null ? null : `${r.monthlyPrice.toFixed(2)} ${r.currency}`), align: "right" },
  { name: "created", value: (r) => r.createdAt.slice(0, 19).replace("T", " ") },
  { name: "labels", value: (r) => formatLabels(r.labels) || null },
  { name: "role", value: (r) => r.role, optional: true },
  { name: "image", value: (r) => r.image, optional: true },
  { name: "resources", value: (r) => Object.entries(r.resources).map(([k, v]) => `${k}=${v}`).join(" "), optional: true },
  { name: "op", value: (r) => r.opId, optional: true },
  { name: "id", value: (r) => r.id, optional: true },
  { name: "placed", value: (r) => placedWhy(r.meta), optional: true },
];

export const listCommand: CommandModule = {
  register(command: Command, ctx: Context) {
    addListFlags(command
      .option("--provider <name>", "only this provider")
      .option("--status <status>", `only this status (${INSTANCE_STATUSES.join(", ")})`)
      .option("--region <name>", "only this region")
      .option("--role <role>", `only this role (${ROLES.join(", ")})`)
      .option("-l, --selector <selector>", "only users whose labels match (plan=pro,cohort!=beta; see automna label)")
      .option("--refresh", "read every configured provider and update state first")
      .option("-w, --watch", "keep listing until Ctrl-C: redrawn on a terminal, NDJSON change events when piped")
      .option("--interval <duration>", "with --watch: time between reads (default 2s)"), LIST_COLUMNS)
      .addHelpText("after", examples("automna list", "automna list --refresh --status running", "automna list -o csv --columns user,provider,monthly", "automna list --sort -monthly --limit 10", "automna list -l 'plan=pro,cohort!=beta'", "automna list --status retired", "automna list --watch", "automna list -w | jq -c 'select(.type != \"added\")'"))
      .action(action(ctx, async (opts: ListOptions & { output?: string; columns?: string; header: boolean; watch?: boolean; interval?: string }) => {
        const output = listOptionsFrom(opts, ctx.globals.json);
        const intervalMs = watchInterval(opts, output.format);
        if (intervalMs) {
          if (opts.refresh) throw new UsageError("--watch reads state; with --refresh it would call every provider each time", { hint: "run automna list --refresh once, or doctor" });
          const columns = selectColumns(LIST_COLUMNS, output.columns);
          return watch(ctx, output.format, {
            intervalMs, title: "automna list",
            read: async () => sortAndLimit((await runList(ctx, opts)).rows, LIST_COLUMNS, output.sort, output.limit),
            key: (r) => r.id, json: (r) => r, fingerprint: (r) => JSON.stringify(r),
            frame: (rows) => tableLines(rows, columns, output.noHeader),
          });
        }
        const { rows, refresh } = await runList(ctx, opts);
        if (refresh) {
          for (const p of refresh.providers) if (!p.ok) ctx.io.warn(`${p.provider}: not refreshed: ${p.error}`);
          ctx.io.info(`refreshed ${refresh.providers.filter((p) => p.ok).map((p) => p.provider).join(", ") || "no provider"}: ${refresh.updated} updated, ${refresh.missing} not found (see automna doctor)`);
        }
        renderList(ctx.io, rows, LIST_COLUMNS, output);
      }));
  },
};
