import type { Command } from "commander";
import type { Context } from "../context.js";
import { observeProviders, pairByUser, refreshPatch, rowsOf } from "../fleet/observe.js";
import { action, examples, type CommandModule } from "../lib/command.js";
import type { DnsSetup } from "../dns/cleanup.js";
import type { DnsRecord } from "../dns/types.js";
import { AutomnaError, CancelledError, UsageError } from "../lib/errors.js";
import { addListFlags, listOptionsFrom, renderDocument, renderList, type Column, type ListFlags } from "../lib/output.js";
import { count } from "../lib/words.js";
import { isUserId, USER_RULE } from "../lib/validate.js";
import type { ProviderInstance } from "../providers/types.js";
import type { Instance } from "../state/types.js";

/**
 * `invalid`: an automna-marked resource whose user id (read from the provider) is not one; never adopted.
 * `dns`: a DNS record automna made for a user that no instance in state is behind (dangling).
 * `zombie`: an instance a failover marked `lost` that runs again (its provider came back): a second
 * agent for the user, fixed (stopped) before anything else.
 * `lost`: a stopped `lost` instance, reported with --destroy-lost, which destroys it.
 */
export type DriftKind = "zombie" | "orphan" | "missing" | "mismatch" | "invalid" | "dns" | "lost";

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
  /** `elsewhere`: instances in state made through another endpoint or account (another profile's to check). */
  providers: { provider: string; ok: boolean; error?: string; instances: number; elsewhere?: number }[];
  drift: Drift[];
  fixed: number;
  /** When DNS is configured: how many of automna's records dangle, or why the zone could not be read. */
  dns?: { ok: boolean; error?: string; dangling: number };
}

interface Found {
  drift: Drift;
  row?: Instance;
  live?: ProviderInstance;
  record?: DnsRecord;
}

export async function runDoctor(ctx: Context, opts: { provider?: string | undefined; fix: boolean; removeOrphans: boolean; destroyLost?: boolean }): Promise<DoctorReport> {
  const [registry, state] = await Promise.all([ctx.providers(), ctx.state()]);
  const views = await observeProviders(registry, state, opts.provider);
  const found: Found[] = [];
  const elsewhereBy = new Map<string, number>();
  for (const view of views) {
    if (!view.ok) continue;
    const { here, elsewhere } = await rowsOf(state, view);
    if (elsewhere.length) elsewhereBy.set(view.provider, elsewhere.length);
    const { pairs, missing, orphans } = pairByUser(here, view.instances);
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
      if (row.status === "lost") {
        const lost = lostDrift(row, live, opts.destroyLost === true);
        if (lost) found.push({ row, live, drift: lost });
        continue;
      }
      const diffs: string[] = [];
      if (live.size && live.size !== row.size) diffs.push(`size: state ${row.size}, provider ${live.size}`);
      if (live.region && live.region !== row.region) diffs.push(`region: state ${row.region}, provider ${live.region}`);
      if (live.status !== row.status) diffs.push(`status: state ${row.status}, provider ${live.status}`);
      if (diffs.length) found.push({ row, live, drift: { kind: "mismatch", user: row.user, provider: view.provider, detail: diffs.join("; "), resources: live.resources } });
    }
  }
  const dns = await (await import("../migrate/deps.js")).dnsFromConfig(ctx);
  const dnsSeen = dns ? await dnsDrift(dns, await state.listInstances(), found) : undefined;
  const report: DoctorReport = {
    providers: views.map((v) => ({
      provider: v.provider, ok: v.ok, ...(v.error ? { error: v.error } : {}), instances: v.instances.length, ...(elsewhereBy.has(v.provider) ? { elsewhere: elsewhereBy.get(v.provider) } : {}),
    })),
    drift: found.map((f) => f.drift),
    fixed: 0,
    ...(dnsSeen ? { dns: dnsSeen } : {}),
  };
  // Zombies first: until they are stopped a user is served by two agents.
  const fixable = found.filter((f) => f.drift.kind !== "invalid").sort((a, b) => Number(b.drift.kind === "zombie") - Number(a.drift.kind === "zombie"));
  for (const f of found) if (opts.fix && f.drift.kind === "invalid") f.drift.fixError = "not fixable by automna: the user id is invalid";
  if (!opts.fix || fixable.length === 0) {
    await dns?.provider.close();
    return report;
  }
  if (!ctx.globals.yes) {
    const ok = await ctx.prompt.confirm({ message: `Fix ${count(fixable.length, "drift item")}${opts.removeOrphans ? " (orphans will be destroyed)" : ""}?`, flag: "--yes", default: false });
    if (!ok) throw new CancelledError("doctor --fix cancelled; nothing was changed");
  }
  const { withLease } = await import("../state/lease.js");
  const who = await ctx.operator();
  const now = (): string => ctx.clock.now().toISOString();
  for (const f of fixable) {
    try {
      f.drift.fixed = await withLease(state, f.drift.user, { who, operation: "doctor --fix" }, async (lease) => {
        if ((f.drift.kind === "zombie" || f.drift.kind === "lost") && f.row && f.live) {
          const [{ fixLost }, { forget }] = await Promise.all([import("../fleet/lost.js"), import("../access/provision-keys.js").then((m) => m.provisionAccess(ctx))]);
          const deps = { state, registry, who, now: () => ctx.clock.now(), step: () => undefined, forget, dns };
          return fixLost(deps, lease, f.row, f.live, f.drift.kind === "lost" || opts.destroyLost === true);
        }
        if (f.drift.kind === "missing" && f.row) {
          await state.closeUsage(f.row.id, now(), { lease });
          await state.deleteInstance(f.row.id, { lease });
          await state.appendAudit({ who, action: "doctor.drop", target: f.row.user, details: { provider: f.row.provider, resources: f.row.resources } });
          return "dropped from state";
        }
        if (f.drift.kind === "dns" && f.record && dns) {
          await dns.provider.deleteRecord(f.record.id);
          await state.appendAudit({ who, action: "dns.remove", target: f.drift.user, details: { records: [f.drift.detail] } });
          return "record removed";
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
          meta: { providerStatus: live.providerStatus, adoptedBy: "doctor", api: await provider.api(), ...(billing.length ? { monthlyPrice: monthlyTotal(billing), currency: billing[0]!.currency } : {}) },
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
  await dns?.provider.close();
  return report;
}

function lostDrift(row: Instance, live: ProviderInstance, destroyLost: boolean): Drift | undefined {
  const by = typeof row.meta.lostBy === "string" ? ` by ${row.meta.lostBy}` : "";
  if (live.status === "running" || live.status === "starting") {
    return { kind: "zombie", user: row.user, provider: row.provider, detail: `marked lost${by}, running again: a second agent for ${row.user} (stopped first by --fix)`, resources: live.resources };
  }
  if (destroyLost) return { kind: "lost", user: row.user, provider: row.provider, detail: `marked lost${by}, ${live.status}: destroyed by --fix --destroy-lost`, resources: live.resources };
  return undefined;
}

/** Dangling DNS records (automna's, with no instance in state behind them) as drift; a zone that cannot be read is said, not fatal. */
async function dnsDrift(dns: DnsSetup, instances: Instance[], found: Found[]): Promise<NonNullable<DoctorReport["dns"]>> {
  const { danglingRecords } = await import("../dns/cleanup.js");
  try {
    const dangling = await danglingRecords(dns, instances);
    for (const { user, record } of dangling) {
      found.push({ record, drift: { kind: "dns", user, provider: dns.provider.id, detail: `${record.type} ${record.name} -> ${record.content}: no instance of ${user} behind it (whoever gets that address next would serve the name)`, resources: { record: record.id } } });
    }
    return { ok: true, dangling: dangling.length };
  } catch (error) {
    if (!(error instanceof AutomnaError)) throw error;
    return { ok: false, error: error.message, dangling: 0 };
  }
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
    addListFlags(command
      .option("--provider <name>", "only this provider")
      .option("--fix", "repair: stop lost instances running again (first), adopt orphans, drop missing entries, update mismatched ones, remove dangling DNS records (asks first)")
      .option("--remove-orphans", "with --fix: destroy orphans instead of adopting them")
      .option("--destroy-lost", "with --fix: destroy instances a failover marked lost (running ones are stopped first either way)"), COLUMNS)
      .addHelpText("after", examples("automna doctor", "automna doctor --fix --yes", "automna doctor --provider fly --json"))
      .action(action(ctx, async (opts: ListFlags & { provider?: string; fix?: boolean; removeOrphans?: boolean; destroyLost?: boolean }) => {
        const output = listOptionsFrom(opts, ctx.globals.json);
        const report = await runDoctor(ctx, { provider: opts.provider, fix: opts.fix === true, removeOrphans: opts.removeOrphans === true, destroyLost: opts.destroyLost === true });
        if (report.providers.length === 0) {
          throw new UsageError("nothing to check: no provider has a token and state holds no instances", { hint: "set a provider's token (e.g. HCLOUD_TOKEN, or automna init) first" });
        }
        for (const p of report.providers) if (!p.ok) ctx.io.warn(`${p.provider}: not checked: ${p.error}`);
        if (report.dns && !report.dns.ok) ctx.io.warn(`dns: not checked: ${report.dns.error}`);
        for (const p of report.providers) if (p.elsewhere) ctx.io.info(`${p.provider}: ${count(p.elsewhere, "instance")} made through another endpoint or account not checked (their profile's doctor checks them)`);
        // JSON and YAML: the whole report (providers checked, drift, fixes); the other formats list the drift.
        if (output.format === "json" || output.format === "yaml") renderDocument(ctx.io, output.format, report, () => undefined);
        else if (report.drift.length) renderList(ctx.io, report.drift, COLUMNS, output);
        const unfixed = report.drift.filter((d) => !d.fixed).length;
        const unchecked = report.providers.some((p) => !p.ok);
        const checked = report.providers.filter((p) => p.ok).map((p) => p.provider);
        if (checked.length === 0) ctx.io.errorLine("no provider could be checked (see the warnings above)");
        else if (report.drift.length === 0) ctx.io.success(`no drift across ${checked.join(", ")}${unchecked ? " (the others were not checked)" : ""}`);
        else ctx.io.info(`${count(report.drift.length, "drift item")}${opts.fix ? `, ${report.fixed} fixed` : "; automna doctor --fix repairs them"}`);
        return unfixed > 0 || unchecked ? 1 : 0;
      }));
  },
};
