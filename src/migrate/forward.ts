import { dnsNameForUser, routeUser } from "../dns/route.js";
import { createByMarker } from "../fleet/create-by-marker.js";
import { AutomnaError } from "../lib/errors.js";
import { mib } from "../lib/output.js";
import { monthlyTotal } from "../providers/plan.js";
import type { BillingItem } from "../providers/types.js";
import type { Instance } from "../state/types.js";
import { carryAgentEnv } from "./agent-env.js";
import { archiveAll, archiveList, cleanupWork, manifest, restoreArchive, setAgent, uploadArchive, waitHealthy, type ArchiveInfo } from "./host.js";
import { manifestDelta, manifestDifferences, type Manifest } from "./manifest.js";
import { copyAllFromObjects, copyChangesFromObjects, objectDataOf, objectManifest } from "./object-copy.js";
import type { Run } from "./run.js";

/** The forward path, step by step; each step is skipped when the journal has its `done`. */
export async function forward(r: Run): Promise<void> {
  await provision(r);
  // Before the hold: on a VM, writing the env re-creates the agent container, which the hold then stops.
  await r.j.step("carry-env", "carrying the agent's environment (variables and secrets) to the target", {}, async () => carryAgentEnv(r));
  await r.j.step("hold-target", "holding the target's agent until its data is in place", {}, async () => {
    // Providers that can hold the agent created the target held; the others started it: hold it.
    const target = await r.target();
    if (!r.to.access(target).createsHeld) await setAgent(r.host, r.to, target, false);
    return {};
  });
  await copyAll(r);
  await r.j.step("freeze", "freezing the source agent", {}, async () => {
    await setAgent(r.host, r.from, await r.source(), false);
    return { frozenAt: r.deps.now().toISOString(), summary: "source agent stopped (downtime starts)" };
  });
  await copyChanges(r);
  await verify(r);
  await r.j.step("start-target", "starting the target agent and waiting for health", { checks: r.deps.health.checks }, async () => {
    const target = await r.target();
    await setAgent(r.host, r.to, target, true);
    const h = await waitHealthy(r.host, target, r.deps.health, r.to);
    const healthyAt = r.deps.now();
    // From the moment the freeze began (its intent), so a crash in between counts as downtime too.
    const began = r.j.entries.findLast((e) => e.step === "freeze" && e.phase === "intent")?.at ?? String(r.j.learned("freeze").frozenAt);
    const frozenAt = Date.parse(began);
    return { healthyAt: healthyAt.toISOString(), checks: h.checks, downtimeMs: healthyAt.getTime() - frozenAt, summary: `target healthy (${h.checks} checks in a row)` };
  });
  await switchRouting(r);
  await cutover(r);
  await r.j.step("cleanup", "removing work files on both hosts", {}, async () => {
    const source = await r.source();
    // A source whose data is in object storage ran nothing (and waking it would restart its agent).
    await Promise.all([objectDataOf(r, source) ? undefined : cleanupWork(r.host, source, r.opId), cleanupWork(r.host, await r.target(), r.opId)]);
    return {};
  });
  await retire(r);
}

async function provision(r: Run): Promise<void> {
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

/** Warm copy: all of /data while the source still serves. */
async function copyAll(r: Run): Promise<void> {
  const objects = objectDataOf(r, await r.source());
  if (objects) return copyAllFromObjects(r, objects);
  const warm = await r.j.step("warm-archive", "archiving the source's /data (warm copy, agent still serving)", { key: r.key("warm") }, async () => {
    const a = await archiveAll(r.host, await r.source(), r.opId, "warm", true);
    return { ...a, summary: `warm archive ${mib(a.bytes)}` };
  });
  await r.j.step("warm-upload", "uploading the warm archive", { key: r.key("warm"), bytes: warm.bytes }, async (resumed) => {
    const out = await uploadArchive(r.host, await r.source(), r.opId, "warm", r.key("warm"), warm, resumed);
    return { ...out, summary: out.uploaded ? "warm archive uploaded" : "warm archive already uploaded (found by HEAD)" };
  });
  await r.j.step("warm-restore", "restoring the warm archive on the target", { key: r.key("warm"), sha256: warm.sha256 }, async () => {
    const m = await restoreArchive(r.host, await r.target(), r.opId, "warm", r.key("warm"), warm.sha256, "replace");
    r.memo.targetWarm = m;
    return { files: m.files, bytes: m.bytes, manifest: m.digest, summary: `target has ${m.files} files, ${mib(m.bytes)} (warm)` };
  });
}

/** The source's frozen manifest: from this process, or recomputed and checked against the journal. */
async function sourceFinal(r: Run): Promise<Manifest> {
  const recorded = String(r.j.learned("final-archive").manifest);
  const m = r.memo.sourceFinal ?? await manifest(r.host, await r.source(), r.opId);
  if (m.digest !== recorded) throw new AutomnaError(`${r.user}'s /data on the source changed after it was frozen (manifest ${m.digest.slice(0, 12)}, journaled ${recorded.slice(0, 12)})`, { code: "source_changed", hint: "something restarted the source agent; the migration rolls back" });
  r.memo.sourceFinal = m;
  return m;
}

/** Final copy: only what changed since the warm copy, with the source frozen. */
async function copyChanges(r: Run): Promise<void> {
  const objects = objectDataOf(r, await r.source());
  if (objects) return copyChangesFromObjects(r, objects);
  const final = await r.j.step("final-archive", "archiving what changed since the warm copy (frozen)", { key: r.key("final") }, async () => {
    const src = await manifest(r.host, await r.source(), r.opId);
    // Until final-restore starts, the target still holds exactly the warm copy.
    const have = r.memo.targetWarm ?? await manifest(r.host, await r.target(), r.opId);
    const delta = manifestDelta(src, have);
    const a: ArchiveInfo = await archiveList(r.host, await r.source(), r.opId, "final", delta.copy);
    r.memo.sourceFinal = src;
    return { ...a, manifest: src.digest, files: src.files, dataBytes: src.bytes, changed: delta.copy.length, summary: `final archive ${mib(a.bytes)}: ${delta.copy.length} changed, ${delta.remove.length} removed` };
  });
  await r.j.step("final-upload", "uploading the final archive", { key: r.key("final"), bytes: final.bytes }, async (resumed) => {
    const out = await uploadArchive(r.host, await r.source(), r.opId, "final", r.key("final"), { sha256: String(final.sha256), bytes: Number(final.bytes) }, resumed);
    return { ...out, summary: out.uploaded ? "final archive uploaded" : "final archive already uploaded (found by HEAD)" };
  });
  await r.j.step("final-restore", "applying the final archive on the target", { key: r.key("final"), sha256: final.sha256 }, async (resumed) => {
    const src = await sourceFinal(r);
    const target = await r.target();
    // From the target's current state (a resumed apply may have done part of it), so exactly what
    // is still extra goes; in one run the target still holds the warm copy this process listed.
    const have = !resumed && r.memo.targetWarm ? r.memo.targetWarm : await manifest(r.host, target, r.opId);
    const { remove } = manifestDelta(src, have);
    // Meanwhile the frozen source is listed again (another host, so in parallel): verify needs it.
    const [after, again] = await Promise.all([
      restoreArchive(r.host, target, r.opId, "final", r.key("final"), String(final.sha256), "apply", remove),
      manifest(r.host, await r.source(), r.opId),
    ]);
    r.memo.targetFinal = after;
    r.memo.sourceAgain = again;
    return { removed: remove.length };
  });
}

async function verify(r: Run): Promise<void> {
  await r.j.step("verify", "verifying per-file sha256 manifests on both sides", {}, async () => {
    // The source listed again after the final copy (still frozen?) and the target as listed right
    // after the final restore; a resumed verify lists both now.
    const source = await r.source();
    const objects = objectDataOf(r, source);
    const listSource = async (): Promise<Manifest> => (objects ? (await objectManifest(r, objects)).manifest : manifest(r.host, source, r.opId));
    const [src, tgt] = await Promise.all([r.memo.sourceAgain ?? listSource(), r.memo.targetFinal ?? manifest(r.host, await r.target(), r.opId)]);
    const recorded = String(r.j.learned("final-archive").manifest);
    if (src.digest !== recorded) throw new AutomnaError(`${r.user}'s /data on the source changed after it was frozen`, { code: "source_changed" });
    if (tgt.digest !== src.digest) {
      throw new AutomnaError(`verification failed: the target's /data differs from the source's (${manifestDifferences(src, tgt).join("; ")})`, { code: "verify_failed" });
    }
    return { files: src.files, bytes: src.bytes, manifest: src.digest, summary: `verified ${src.files} files, ${mib(src.bytes)}: manifests match` };
  });
}

/** Where the user's name points after the switch; null when the target takes no inbound traffic (a Koyeb worker). */
function routeFor(r: Run, target: Instance): { address: string } | { hostname: string } | null {
  const route = r.to.access(target).route();
  if (route) return route;
  if (r.to.capabilities.inbound) return null;
  throw new AutomnaError(`the target of ${r.user} has no public address to route to`, { code: "no_address" });
}

async function switchRouting(r: Run): Promise<void> {
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

/** State follows the switch: roles swap, the source's billing stops and the target's starts at the switch. */
async function cutover(r: Run): Promise<void> {
  await r.j.step("cutover", "recording the cut-over (roles and billing)", {}, async () => {
    const { state } = r.deps;
    const lease = r.lease;
    const at = String(r.j.learned("switch").switchedAt);
    const source = await r.source();
    const target = await r.target();
    await state.closeUsage(source.id, at, { lease });
    if (source.role !== "retired") await state.updateInstance(source.id, { role: "retired" }, { lease });
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

async function retire(r: Run): Promise<void> {
  await r.j.step("retire", "retiring the source (stopped, kept for the grace period)", {}, async () => {
    const source = await r.source();
    await r.j.fence();
    await r.from.stop({ resources: source.resources });
    await r.from.wait({ resources: source.resources }, "stopped");
    const until = new Date(r.deps.now().getTime() + r.params.keepSourceMs).toISOString();
    await r.deps.state.updateInstance(source.id, { status: "stopped", meta: { ...source.meta, retireUntil: until, retiredBy: r.opId } }, { lease: r.lease });
    return { retireUntil: until, summary: `source stopped, kept until ${until}` };
  });
}
