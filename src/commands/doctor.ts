import type { Command } from "commander";
import type { Context } from "../context.js";
import { observeProviders, pairByUser, refreshPatch } from "../fleet/observe.js";
import { action, examples, type CommandModule } from "../lib/command.js";
import { CancelledError } from "../lib/errors.js";
import { renderList, resolveFormat, type Column } from "../lib/output.js";
import { isUserId, USER_RULE } from "../lib/validate.js";
import type { ProviderInstance } from "../providers/types.js";
import type { Instance } from "../state/types.js";

/** `invalid`: an automna-marked resource whose user id (read from the provider) is not one; never adopted. */
export type DriftKind = "orphan" | "missing" | "mismatch" | "invalid";

export interface Drift {
  kind: DriftKind;
  user: string;
  provider: string;
  /** What differs, e.g. `size: state cx22, provider cx32`. */
  detail: string;
  resources: Record<string, string>;
  /** After --fix: what was done. */
  fixed?: string;
  fixError?: string;
}

export interface DoctorReport {
  providers: { provider: string; ok: boolean; error?: string; instances: number }[];
  drift: Drift[];
  fixed: number;
}

interface Found {
  drift: Drift;
  row?: Instance;
  live?: ProviderInstance;
}

export async function runDoctor(ctx: Context, opts: { provider?: string | undefined; fix: boolean; removeOrphans: boolean }): Promise<DoctorReport> {
  const [registry, state] = await Promise.all([ctx.providers(), ctx.state()]);
  const views = await observeProviders(registry, state, opts.provider);
  const found: Found[] = [];
  for (const view of views) {
    if (!view.ok) continue;
    const rows = await state.listInstances({ provider: view.provider });
    const { pairs, missing, orphans } = pairByUser(rows, view.instances);
    for (const live of orphans) {
      if (!isUserId(live.user)) {
        found.push({ drift: { kind: "invalid", user: live.user, provider: view.provider, detail: `automna-marked resource whose user id is not valid (${USER_RULE}); not adopted: rename or remove it at the provider`, resources: live.resources } });
        continue;
      }
      found.push({ live, drift: { kind: "orphan", user: live.user, provider: view.provider, detail: `automna-marked ${live.providerStatus} resource that state does not know`, resources: live.resources } });
    }
    for (const row of missing) {
      found.push({ row, drift: { kind: "missing", user: row.user, provider: view.provider, detail: `state says ${row.status}, the provider has no such resource`, resources: row.resources } });
    }
    for (const [row, live] of pairs) {
      const diffs: string[] = [];
      if (live.size && live.size !== row.size) diffs.push(`size: state ${row.size}, provider ${live.size}`);
      if (live.region && live.region !== row.region) diffs.push(`region: state ${row.region}, provider ${live.region}`);
      if (live.status !== row.status) diffs.push(`status: state ${row.status}, provider ${live.status}`);
      if (diffs.length) found.push({ row, live, drift: { kind: "mismatch", user: row.user, provider: view.provider, detail: diffs.join("; "), resources: live.resources } });
    }
  }
  const report: DoctorReport = {
    providers: views.map((v) => ({ provider: v.provider, ok: v.ok, ...(v.error ? { error: v.error } : {}), instances: v.instances.length })),
    drift: found.map((f) => f.drift),
    fixed: 0,
  };
  const fixable = found.filter((f) => f.drift.kind !== "invalid");
  for (const f of found) if (opts.fix && f.drift.kind === "invalid") f.drift.fixError = "not fixable by automna: the user id is invalid";
  if (!opts.fix || fixable.length === 0) return report;
  if (!ctx.globals.yes) {
    const ok = await ctx.prompt.confirm({ message: `Fix ${fixable.length} drift item(s)${opts.removeOrphans ? " (orphans will be destroyed)" : ""}?`, flag: "--yes", default: false });
    if (!ok) throw new CancelledError("doctor --fix cancelled; nothing was changed");
  }
  const { withLease } = await import("../state/lease.js");
  const who = await ctx.operator();
  const now = (): string => ctx.clock.now().toISOString();
  for (const f of fixable) {
    try {
      f.drift.fixed = await withLease(state, f.drift.user, { who, operation: "doctor --fix" }, async (lease) => {
        if (f.drift.kind === "missing" && f.row) {
          await state.closeUsage(f.row.id, now(), { lease });
          await state.deleteInstance(f.row.id, { lease });
          await state.appendAudit({ who, action: "doctor.drop", target: f.row.user, details: { provider: f.row.provider, resources: f.row.resources } });
          return "dropped from state";
        }
        if (f.drift.kind === "mismatch" && f.row && f.live) {
          await state.updateInstance(f.row.id, refreshPatch(f.row, f.live), { lease });
          return "state updated from the provider";
        }
        const live = f.live!;
        const provider = await registry.get(live.provider);
        const taken = await state.getInstance(live.user);
        if (opts.removeOrphans || taken) {
          const removed = await provider.destroy(live);
          await state.appendAudit({ who, action: "doctor.remove", target: live.user, details: { provider: live.provider, removed } });
          return `removed (${removed.join(", ") || "already gone"})`;
        }
        const billing = live.size ? await provider.billing(live.size, live.region).catch(() => []) : [];
        const { monthlyTotal } = await import("../providers/plan.js");
        const row = await state.createInstance({
          user: live.user, role: "live", provider: live.provider, region: live.region, size: live.size, image: live.image ?? "",
          resources: live.resources, addresses: live.addresses, status: live.status, opId: live.opId,
          meta: { providerStatus: live.providerStatus, adoptedBy: "doctor", ...(billing.length ? { monthlyPrice: monthlyTotal(billing), currency: billing[0]!.currency } : {}) },
        }, { lease });
        for (const b of billing) {
          await state.openUsage({ user: live.user, instanceId: row.id, provider: live.provider, size: live.size, region: live.region, kind: b.kind, quantity: b.quantity, hourlyPrice: b.hourlyPrice, monthlyPrice: b.monthlyPrice, currency: b.currency, start: now() }, { lease });
        }
        await state.appendAudit({ who, action: "doctor.adopt", target: live.user, details: { provider: live.provider, resources: live.resources } });
        return "adopted into state";
      });
      report.fixed++;
    } catch (error) {
      f.drift.fixError = error instanceof Error ? error.message : String(error);
    }
  }
  return report;
}

const COLUMNS: Column<Drift>[] = [
  { name: "kind", value: (d) => d.kind },
  { name: "user", value: (d) => d.user },
  { name: "provider", value: (d) => d.provider },
  { name: "detail", value: (d) => d.detail },
  { name: "resources", value: (d) => Object.entries(d.resources).map(([k, v]) => `${k}=${v}`).join(" ") || null, optional: true },
  { name: "fixed", value: (d) => d.fixed ?? (d.fixError ? `failed: ${d.fixError}` : null) },
];

export const doctorCommand: CommandModule = {
  register(command: Command, ctx: Context) {
    command
      .option("--provider <name>", "only this provider")
      .option("--fix", "repair: adopt orphans, drop missing entries, update mismatched ones (asks first)")
      .option("--remove-orphans", "with --fix: destroy orphans instead of adopting them")
      .option("-o, --output <format>", "table, json, ndjson or csv")
      .addHelpText("after", examples("automna doctor", "automna doctor --fix --yes", "automna doctor --provider fly --json"))
      .action(action(ctx, async (opts: { provider?: string; fix?: boolean; removeOrphans?: boolean; output?: string }) => {
        const format = resolveFormat(opts.output, ctx.globals.json);
        const report = await runDoctor(ctx, { provider: opts.provider, fix: opts.fix === true, removeOrphans: opts.removeOrphans === true });
        for (const p of report.providers) if (!p.ok) ctx.io.warn(`${p.provider}: not checked: ${p.error}`);
        if (format === "json") ctx.io.json(report);
        else if (report.drift.length) renderList(ctx.io, report.drift, COLUMNS, { format });
        const unfixed = report.drift.filter((d) => !d.fixed).length;
        const unchecked = report.providers.some((p) => !p.ok);
        if (report.drift.length === 0) ctx.io.success(`no drift across ${report.providers.filter((p) => p.ok).map((p) => p.provider).join(", ") || "no provider"}`);
        else ctx.io.info(`${report.drift.length} drift item(s)${opts.fix ? `, ${report.fixed} fixed` : "; automna doctor --fix repairs them"}`);
        return unfixed > 0 || unchecked ? 1 : 0;
      }));
  },
};
