import { hostname } from "node:os";
import { AutomnaError, CancelledError, errorJson, LockedError } from "../lib/errors.js";
import { newId } from "../lib/ids.js";
import { holdLeases } from "../state/lease.js";
import type { Operation, StateStore } from "../state/types.js";
import { backupKeys } from "./backup-catalog.js";
import { parseBackupManifest, restoreBackupOnto } from "./backup.js";
import { applyBackupEnv, loadBackupEnv } from "./backup-env.js";
import { cutover, provision, switchRouting } from "./forward.js";
import { setAgent, waitHealthy } from "./host.js";
import { Journal } from "./journal.js";
import { parseManifest } from "./manifest.js";
import { Run } from "./run.js";
import type { EngineDeps, MigrateParams } from "./types.js";

/** The operation kind of a failover in the state store's operations table. */
export const FAILOVER_KIND = "failover";

/**
 * The steps of a failover, in order, journaled like a migration's (intent before the external
 * call, done after) so a run killed at any point is finished by running `failover` again for the
 * user. There is no source to copy from: the target gets the newest verified backup.
 */
export const FAILOVER_STEPS = ["lock", "fence-source", "provision", "hold-target", "restore", "env", "start-target", "switch", "cutover", "unlock"] as const;

/** What a failover was started with (the operation's params): a migration's, plus the backup it restores. */
export interface FailoverParams extends MigrateParams {
  backupId: string;
  /** When the backup was taken: the data written since is what the failover loses. */
  backupTime: string;
  /** The source answered its health check and the operator forced the failover: its agent is stopped first. */
  forced: boolean;
}

export interface FailoverOutcome {
  user: string;
  op: string;
  result: "failed_over" | "failed";
  from: string;
  to: string;
  backupId: string;
  backupTime: string;
  /** From the start of this run (or the operation's start) to the target healthy, ms. */
  recoveryMs: number | null;
  step: string | null;
  error: { code: string; message: string; hint?: string } | null;
}

/** The user's failover left unfinished (running when its process died, or failed), if any. */
export async function unfinishedFailover(state: StateStore, user: string): Promise<Operation | undefined> {
  const ops = await state.listOperations({ user, kind: FAILOVER_KIND, limit: 5 });
  return ops.find((op) => op.status === "running" || op.status === "failed");
}

/**
 * Fails one user over: under the user's lease, a new operation (or the unfinished one, resumed
 * from its journal) provisions the target, restores the backup, starts and health-checks the
 * agent, switches DNS and marks the old instance `lost`.
 */
export async function failoverUser(deps: EngineDeps, user: string, fresh: FailoverParams | null): Promise<FailoverOutcome> {
  const opId = newId("op", deps.now());
  const held = await holdLeases(deps.state, [user], { who: deps.who, operation: opId, host: hostname(), pid: process.pid }, { ttlMs: deps.leaseTtlMs });
  const started = Date.now();
  let j: Journal | undefined;
  try {
    const lease = held.ref(user);
    let op = await unfinishedFailover(deps.state, user);
    if (!op) {
      if (!fresh) throw new AutomnaError(`${user} has no unfinished failover`, { code: "not_found" });
      op = await deps.state.createOperation({ id: opId, kind: FAILOVER_KIND, user, params: { ...fresh }, status: "running", step: "lock" }, { lease });
    } else if (op.status === "failed") {
      op = await deps.state.updateOperation(op.id, { status: "running", error: null }, { lease });
    }
    j = new Journal({ state: deps.state, lease, crash: deps.crash, emit: deps.emit, now: deps.now, signal: deps.signal, leaseSignal: held.signal, leaseTtlMs: deps.leaseTtlMs }, op, await deps.state.listJournal(op.id));
    if (j.state("lock").done) await j.append("lock", "done", { leaseId: lease.leaseId, resumedBy: deps.who });
    const params = op.params as unknown as FailoverParams;
    const r = new Run(deps, j, params, lease, await deps.registry.get(params.from), await deps.registry.get(params.to));
    await j.step("lock", `locked ${user}`, {}, async () => ({ leaseId: lease.leaseId }));
    await forward(r, params);
    await j.step("unlock", "done: releasing the user", {}, async () => ({}));
    if (j.op.status !== "succeeded") await j.update({ status: "succeeded", error: null });
    return outcome(r, params, started, null);
  } catch (error) {
    if (!j) throw error;
    const interrupted = error instanceof LockedError || error instanceof CancelledError;
    if (!interrupted) await j.update({ status: "failed", error: (error instanceof Error ? error.message : String(error)).slice(0, 1000) }).catch(() => undefined);
    const params = j.op.params as unknown as FailoverParams;
    return { ...outcome(null, params, started, error), user, op: j.op.id, step: j.op.step };
  } finally {
    await held.release();
  }
}

function outcome(r: Run | null, p: FailoverParams, started: number, error: unknown): FailoverOutcome {
  const healthy = r?.j.state("start-target").done?.healthyAt;
  return {
    user: r?.user ?? "", op: r?.opId ?? "", result: error ? "failed" : "failed_over", from: p.from, to: p.to, backupId: p.backupId, backupTime: p.backupTime,
    recoveryMs: !error && typeof healthy === "string" ? Math.max(0, Date.parse(healthy) - started) : null, step: r?.j.op.step ?? null,
    error: error ? errorJson(error) : null,
  };
}

async function forward(r: Run, p: FailoverParams): Promise<void> {
  // The backup's manifest, read once for the restore and env steps (a resumed run reads it again).
  const keys = backupKeys(r.user, p.backupId);
  let manifest: Promise<ReturnType<typeof parseBackupManifest>> | undefined;
  const backupManifest = (): Promise<ReturnType<typeof parseBackupManifest>> => (manifest ??= r.deps.objects.getText(keys.manifest).then((text) => {
    if (text === undefined) throw new AutomnaError(`backup ${p.backupId} of ${r.user} is gone from the bucket`, { code: "not_found" });
    return parseBackupManifest(text);
  }));
  await r.j.step("fence-source", p.forced ? "stopping the old agent first (forced: it still answers)" : "the old instance is unreachable: it is marked lost at the end, doctor stops it if it comes back", { forced: p.forced }, async () => {
    // A user is never served by two agents: a reachable source's agent is stopped before the
    // target starts, then its machine too where the provider's API answers (a reboot would start it).
    if (!p.forced) return { stopped: false };
    const source = await r.source();
    await setAgent(r.host, r.from, source, false);
    const powered = await r.from.stop({ resources: source.resources }).then(() => r.from.wait({ resources: source.resources }, "stopped")).then(() => true, (error: unknown) => {
      r.j.emit("fence-source", undefined, `the old machine could not be powered off (${(error as Error).message.split("\n")[0]}); its agent is stopped`, "warn");
      return false;
    });
    return { stopped: true, poweredOff: powered };
  });
  await provision(r);
  await r.j.step("hold-target", "holding the target's agent until the backup is in place", {}, async () => {
    const target = await r.target();
    if (!r.to.access(target).createsHeld) await setAgent(r.host, r.to, target, false);
    return {};
  });
  await r.j.step("restore", `restoring backup ${p.backupId} of ${p.backupTime}`, { backupId: p.backupId }, async () => {
    const { sha256, bytes, manifestText } = await backupManifest();
    const want = parseManifest(manifestText);
    await restoreBackupOnto(r.host, await r.target(), keys.archive, p.backupId, { sha256, bytes }, want);
    return { files: want.files, bytes: want.bytes, manifest: want.digest, summary: `restored ${want.files} files from ${p.backupId}` };
  });
  await r.j.step("env", "setting the agent's environment (variables and secrets) from the backup", { backupId: p.backupId }, async () => {
    // After the restore, before the start: the agent first runs with its data and its keys in place.
    // A manifest gone since the restore (a resumed run) leaves the agent without its environment, as a backup without one does.
    const env = await loadBackupEnv(r.deps, r.user, p.backupId, (await backupManifest().catch(() => undefined))?.env);
    const target = await r.target();
    await r.j.fence();
    return applyBackupEnv(r.host, r.to, target, env, { port: r.deps.health.port, user: r.user, warn: (line) => r.j.emit("env", undefined, line, "warn") });
  });
  await r.j.step("start-target", "starting the agent and waiting for health", { checks: r.deps.health.checks }, async () => {
    const target = await r.target();
    await setAgent(r.host, r.to, target, true);
    const h = await waitHealthy(r.host, target, r.deps.health, r.to);
    return { healthyAt: r.deps.now().toISOString(), checks: h.checks, summary: `healthy (${h.checks} checks in a row)` };
  });
  await switchRouting(r);
  await cutover(r, { lostAt: r.deps.now().toISOString(), lostBy: r.opId });
}
