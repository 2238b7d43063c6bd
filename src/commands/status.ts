import type { Command } from "commander";
import type { Context } from "../context.js";
import { action, examples, type CommandModule } from "../lib/command.js";
import { AutomnaError, NotFoundError } from "../lib/errors.js";
import { checkHealth, healthHost, type HealthResult } from "../lib/health.js";
import { addOutputFlag, detailLines, formatTable, renderDocument, resolveFormat, DOCUMENT_FORMATS } from "../lib/output.js";
import { watch, watchInterval } from "../lib/watch.js";
import { validateUser } from "../lib/validate.js";
import { placedWhy } from "../fleet/placement.js";
import { MONTH_HOURS } from "../pricing/period.js";
import { intervalCost } from "../pricing/usage-cost.js";
import { monthlyTotal } from "../providers/plan.js";
import { formatLabels } from "../lib/labels.js";
import type { Instance, Labels, UsageInterval } from "../state/types.js";

export interface StatusReport {
  user: string;
  instance: Instance;
  /** The user's labels (automna label). */
  labels: Labels;
  /** What the provider says now; null when it has no such resource; absent when it could not be asked. */
  live?: { status: string; providerStatus: string; region: string; size: string; addresses: Record<string, string> } | null;
  liveError?: string;
  health: HealthResult | null;
  monthlyPrice: number | null;
  currency: string | null;
  /** Cost of every usage interval so far, up to now. */
  costSoFar: number;
  usage: UsageInterval[];
}

export async function runStatus(ctx: Context, user: string): Promise<StatusReport> {
  validateUser(user);
  const state = await ctx.state();
  const instance = await state.getInstance(user);
  if (!instance) throw new NotFoundError(`${user} has no instance`, { hint: `automna provision ${user}` });
  const config = await ctx.config();
  const [usage, labelled] = await Promise.all([state.listUsage({ user }), state.listLabels([user])]);
  const open = usage.filter((u) => u.end === null && u.instanceId === instance.id);
  const now = ctx.clock.now();
  const report: StatusReport = {
    user, instance, labels: labelled[0]?.labels ?? {}, health: null,
    monthlyPrice: open.length ? monthlyTotal(open) : null,
    currency: open[0]?.currency ?? usage[0]?.currency ?? null,
    // cost-report's arithmetic (each calendar month capped at the monthly price), so both agree.
    costSoFar: Math.round(usage.reduce((s, u) => s + intervalCost(u, Date.parse(u.start), now.getTime(), u.end ? Date.parse(u.end) : now.getTime()).cost, 0) * 10000) / 10000,
    usage,
  };
  const registry = await ctx.providers();
  let addresses = instance.addresses;
  if (registry.configured().some((p) => p.id === instance.provider)) {
    try {
      const live = await (await registry.forInstance(instance, { read: true })).get(user);
      report.live = live ? { status: live.status, providerStatus: live.providerStatus, region: live.region, size: live.size, addresses: live.addresses } : null;
      if (live && Object.keys(live.addresses).length) addresses = live.addresses;
    } catch (error) {
      if (!(error instanceof AutomnaError)) throw error;
      report.liveError = error.message;
    }
  } else report.liveError = `no ${registry.resolve(instance.provider).tokenEnv} set`;
  const host = healthHost(addresses);
  if (host) report.health = await checkHealth(host, config.getNumber("health.port") ?? 8080, config.getString("health.path") ?? "/healthz", 3000, ctx.signal);
  return report;
}

/** "server 3.79 + ipv4 0.50": what the monthly price is made of. */
function priceParts(open: UsageInterval[]): string {
  return open.map((u) => `${u.kind}${u.quantity === 1 ? "" : ` x${u.quantity}`} ${((u.monthlyPrice ?? u.hourlyPrice * MONTH_HOURS) * u.quantity).toFixed(2)}`).join(" + ");
}

export const statusCommand: CommandModule = {
  register(command: Command, ctx: Context) {
    addOutputFlag(command
      .argument("<user>", "user id")
      .option("-w, --watch", "keep checking until Ctrl-C: redrawn on a terminal, NDJSON change events when piped")
      .option("--interval <duration>", "with --watch: time between checks (default 2s)"), [...DOCUMENT_FORMATS, "ndjson"])
      .addHelpText("after", examples("automna status alice", "automna status alice -o yaml", "automna status alice --watch"))
      .action(action(ctx, async (user: string, flags: { output?: string; watch?: boolean; interval?: string }) => {
        const format = resolveFormat(flags.output, ctx.globals.json, [...DOCUMENT_FORMATS, "ndjson"]);
        const intervalMs = watchInterval(flags, format);
        if (intervalMs) {
          return watch(ctx, format, {
            intervalMs, title: `automna status ${user}`,
            read: async () => [await runStatus(ctx, user)], key: (r) => r.user, json: (r) => r,
            // What changes by itself every time (the cost accruing, the health check's timing) is not a change.
            fingerprint: (r) => JSON.stringify([r.instance, r.labels, r.live, r.liveError, r.health?.ok, r.health?.status, r.monthlyPrice, r.usage.length]),
            frame: ([r]) => statusLines(ctx, r!),
          });
        }
        const r = await runStatus(ctx, user);
        renderDocument(ctx.io, format, r, () => {
          for (const line of statusLines(ctx, r)) ctx.io.out(line);
        });
      }));
  },
};

function statusLines(ctx: Context, r: StatusReport): string[] {
  const i = r.instance;
  const fmt = (n: number | null): string | null => (n === null ? null : `${n.toFixed(2)} ${r.currency ?? ""}`.trim());
  const health = r.health === null ? "no address yet" : r.health.ok ? `ok (${r.health.status} in ${r.health.ms} ms, ${r.health.url})` : `failing (${r.health.status ?? r.health.error}, ${r.health.url})`;
  const lines = detailLines([
    ["user", i.user],
    ["provider", i.provider],
    ["region", i.region],
    ["size", i.size],
    ["image", i.image],
    ["labels", formatLabels(r.labels) || null],
    ["status", r.live === undefined ? `${i.status} (not checked live: ${r.liveError})` : r.live === null ? `${i.status} in state, but the provider has no such instance (see automna doctor)` : `${r.live.status} (${r.live.providerStatus})`],
    ["resources", Object.entries(i.resources).map(([k, v]) => `${k}=${v}`).join(" ") || null],
    ["addresses", Object.entries(r.live?.addresses ?? i.addresses).map(([k, v]) => `${k}=${v}`).join(" ") || null],
    ["health", health],
    ["created", i.createdAt],
    ["monthly price", r.monthlyPrice === null ? null : `${fmt(r.monthlyPrice)} before VAT/tax (${priceParts(r.usage.filter((u) => u.end === null && u.instanceId === i.id))})`],
    ["cost so far", fmt(r.costSoFar)],
    ["operation", i.opId],
    ["placed", placedWhy(i.meta)],
  ]);
  if (!r.usage.length) return lines;
  lines.push("", "usage:");
  // Hourly prices are fractions of a cent for small resources: four decimals, as providers list them.
  const rows = r.usage.map((u) => [
    `${u.start.slice(0, 19).replace("T", " ")} .. ${u.end ? u.end.slice(0, 19).replace("T", " ") : "now"}`,
    u.provider, u.kind, u.size, u.region, `x${u.quantity}`,
    `${u.hourlyPrice.toFixed(4)}/h`, `${u.monthlyPrice === null ? "-" : u.monthlyPrice.toFixed(2)}/mo`, u.currency,
  ]);
  for (const line of formatTable(null, rows, ["left", "left", "left", "left", "left", "right", "right", "right"])) lines.push(`  ${line}`);
  return lines;
}
