import { dnsNameForUser, routeUser } from "../dns/route.js";
import { createByMarker } from "../fleet/create-by-marker.js";
import { AutomnaError } from "../lib/errors.js";
import { monthlyTotal } from "../providers/plan.js";
import type { BillingItem } from "../providers/types.js";
import type { Instance } from "../state/types.js";
import { freeze, warmArchive, warmRestore } from "./copy.js";
import { cleanupWork, setAgent, waitHealthy } from "./host.js";
import { objectDataOf, objectSteps } from "./object-copy.js";
import type { Run } from "./run.js";
import { MIGRATE_STEPS, type MigrateStep } from "./types.js";
import { finalRestore, verify } from "./verify.js";

type ForwardStep = Exclude<MigrateStep, "lock" | "unlock">;

/** What runs each step (the order is MIGRATE_STEPS'); a step whose `done` is journaled is skipped. */
const FORWARD: Record<ForwardStep, (r: Run) => Promise<void>> = {
  provision,
  "warm-archive": warmArchive,
  "warm-restore": warmRestore,
  freeze,
  "final-restore": finalRestore,
  verify,
  "start-target": startTarget,
  switch: switchRouting,
  cutover,
  retire,
};

/** The forward path: every step between the lock and the unlock, in MIGRATE_STEPS' order. */
export async function forward(r: Run): Promise<void> {
  // A source whose data lives in object storage (a Cloudflare sandbox's R2 prefix) is copied from there.
  const objects = objectDataOf(r, await r.source());
  const steps = objects ? { ...FORWARD, ...objectSteps(objects) } : FORWARD;
  for (const step of MIGRATE_STEPS) if (step !== "lock" && step !== "unlock") await steps[step](r);
}

export async function provision(r: Run): Promise<void> {
  const p = r.params;
  await r.j.step("provision", `provisioning the target on ${r.to.title} (${p.region}, ${p.size})`, { provider: p.to, region: p.region, size: p.size, marker: r.opId }, async (resumed) => {
    const { row, live, billing, adopted, foundByMarker } = await createByMarker({
      state: r.deps.state, provider: r.to, lease: r.lease, user: r.user, role: "target", region: p.region, size: p.size, image: p.image,
      marker: r.opId, existing: await r.targetRow(), resumed, meta: { migration: r.opId }, beforeCreate: () => r.j.fence(),
      spec: { env: {}, secrets: {}, health: { port: r.deps.health.port, path: r.deps.health.path }, hold: true },
      step: (text) => r.j.emit("provision", undefined, text, "info"),
    });
    return {
      instanceId: row.id, resources: live.resources, addresses: live.addresses, adopted, billing, monthlyPrice: monthlyTotal(billing),
      summary: `target ${Object.entries(live.resources).map(([k, v]) => `${k} ${v}`).join(", ")}${foundByMarker ? " (adopted by marker)" : ""}`,
    };
  });
}

async function startTarget(r: Run): Promise<void> {
  await r.j.step("start-target", "starting the target agent and waiting for health", { checks: r.deps.health.checks }, async () => {
    const target = await r.target();
    await setAgent(r.host, r.to, target, true);
    const h = await waitHealthy(r.host, target, r.deps.health, r.to);
    const healthyAt = r.deps.now();
    // From the moment the last freeze began (its intent; an interrupted one was undone), so a crash in between counts as downtime too.
    const began = r.j.entries.findLast((e) => e.step === "freeze" && e.phase === "intent")?.at ?? String(r.j.learned("freeze").frozenAt);
    const frozenAt = Date.parse(began);
    return { healthyAt: healthyAt.toISOString(), checks: h.checks, downtimeMs: healthyAt.getTime() - frozenAt, summary: `target healthy (${h.checks} checks in a row)` };
  });
}

/** Where the user's name points after the switch; null when the target takes no inbound traffic (a Koyeb worker). */
function routeFor(r: Run, target: Instance): { address: string } | { hostname: string } | null {
  const route = r.to.access(target).route();
  if (route) return route;
  if (r.to.capabilities.inbound) return null;
  throw new AutomnaError(`the target of ${r.user} has no public address to route to`, { code: "no_address" });
}

export async function switchRouting(r: Run): Promise<void> {
  const dns = r.deps.dns;
  if (r.j.state("switch").done) return;
  const route = routeFor(r, await r.target());
  await r.j.step("switch", "switching DNS to the target (point of no return)", { route }, async () => {
    if (!dns) {
      r.j.emit("switch", undefined, "no DNS configured (cloudflare.* and dns.template): routing not switched", "warn");
      return { skipped: true, switchedAt: r.deps.now().toISOString(), summary: "routing not switched (no DNS configured)" };
    }
    if (!route) {
      // Nothing to point at: the name must not keep pointing at the source being retired.
      const name = dnsNameForUser(dns.template, r.user);
      const removed = await dns.provider.deleteRecords(name);
      r.j.emit("switch", undefined, `${r.to.title} instances take no inbound traffic (${r.to.capabilities.inbound}): ${name} removed`, "warn");
      return { name, removed, switchedAt: r.deps.now().toISOString(), summary: `${name} removed (the target takes no inbound traffic)` };
    }
    // An upsert that reads first: re-running it after a crash writes nothing when it already happened.
    const rec = await routeUser(dns.provider, { user: r.user, template: dns.template, target: route });
    return { name: rec.name, type: rec.type, content: rec.content, recordId: rec.id, switchedAt: r.deps.now().toISOString(), summary: `${rec.name} ${rec.type} ${rec.content}` };
  });
}

/**
 * State follows the switch: roles swap, the source's billing stops and the target's starts at the
 * switch. `lost` (a failover): the source is marked lost (unreachable, not destroyed) with these notes.
 */
export async function cutover(r: Run, lost?: Record<string, unknown>): Promise<void> {
  await r.j.step("cutover", "recording the cut-over (roles and billing)", {}, async () => {
    const { state } = r.deps;
    const lease = r.lease;
    const at = String(r.j.learned("switch").switchedAt);
    const source = await r.source();
    const target = await r.target();
    await state.closeUsage(source.id, at, { lease });
    if (lost && source.status !== "lost") await state.updateInstance(source.id, { role: "retired", status: "lost", meta: { ...source.meta, ...lost } }, { lease });
    else if (source.role !== "retired") await state.updateInstance(source.id, { role: "retired" }, { lease });
    if (target.role !== "live") await state.updateInstance(target.id, { role: "live" }, { lease });
    const billing = (r.j.learned("provision").billing ?? []) as BillingItem[];
    const open = await state.listUsage({ instanceId: target.id, openOnly: true });
    for (const item of billing) {
      if (open.some((u) => u.kind === item.kind)) continue;
      await state.openUsage({
        user: r.user, instanceId: target.id, provider: target.provider, size: target.size, region: target.region, kind: item.kind, quantity: item.quantity,
        hourlyPrice: item.hourlyPrice, monthlyPrice: item.monthlyPrice, currency: item.currency, start: at,
      }, { lease });
    }
    return { at, summary: `${target.provider} is live; ${source.provider} billed until ${at}` };
  });
}

/**
 * The migration's work files off the source, where there are any and it can be reached. Leftovers
 * cost the retired source a little disk until gc destroys it: not a failure.
 */
async function removeWorkFiles(r: Run, source: Instance): Promise<void> {
  // A source whose data is in object storage ran nothing (and a command would wake it).
  if (objectDataOf(r, source)) return;
  // One already stopped (a resume after a run killed past the stop) cannot be reached: trying
  // would only wait out SSH's connection attempts.
  if ((await r.from.get(source.user))?.status === "stopped") {
    return r.j.emit("retire", undefined, "the source is already stopped: its work files stay until gc destroys it", "info");
  }
  await cleanupWork(r.host, source, r.opId).catch((error: unknown) => r.j.emit("retire", undefined, `could not remove the work files on the source: ${(error as Error).message}`, "warn"));
}

async function retire(r: Run): Promise<void> {
  await r.j.step("retire", "retiring the source (work files removed, stopped, kept for the grace period)", {}, async () => {
    const source = await r.source();
    await removeWorkFiles(r, source);
    await r.j.fence();
    await r.from.stop({ resources: source.resources });
    await r.from.wait({ resources: source.resources }, "stopped");
    const until = new Date(r.deps.now().getTime() + r.params.keepSourceMs).toISOString();
    await r.deps.state.updateInstance(source.id, { status: "stopped", meta: { ...source.meta, retireUntil: until, retiredBy: r.opId } }, { lease: r.lease });
    return { retireUntil: until, summary: `source stopped, kept until ${until}` };
  });
}
