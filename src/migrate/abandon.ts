import { hostname } from "node:os";
import { NotFoundError, UsageError } from "../lib/errors.js";
import type { ProviderRegistry } from "../providers/index.js";
import { holdLeases } from "../state/lease.js";
import type { JournalEntry, Operation, StateStore } from "../state/types.js";
import { stepState } from "./journal.js";
import { archiveKey } from "./run.js";
import { MIGRATE_KIND, type MigrateParams } from "./types.js";
import { UNFINISHED } from "./unfinished.js";

/** What an abandoned migration leaves behind, for the operator to see before and after. */
export interface Leftovers {
  /** The target made for it, still at its provider (state forgets it; doctor reports it as an orphan). */
  target: { provider: string; resources: Record<string, string> } | null;
  /** The source agent was stopped by the freeze and is still stopped. */
  sourceStopped: { provider: string } | null;
  /** Archive keys in the object store that may still be there. */
  archives: string[];
}

export interface AbandonResult {
  op: string;
  user: string;
  status: "abandoned";
  leftovers: Leftovers;
}

export interface AbandonDeps {
  state: StateStore;
  registry: ProviderRegistry;
  who: string;
  leaseTtlMs: number;
}

/** What differs between abandoning a migration and a failover: the kind, its words, its hints. */
export interface AbandonableKind {
  kind: string;
  /** "migration", "failover" */
  noun: string;
  /** The command that lists operations of this kind. */
  list: string;
  /** Why an operation past its switch cannot be abandoned, and the command that takes it forward. */
  pastSwitch: (op: Operation) => { why: string; hint: string };
}

/**
 * Loads the operation and refuses what abandoning cannot help: another kind, finished, or past
 * the switch (traffic may reach the target: forgetting it would leave the user's serving agent
 * unknown to state). An abandoned one comes back as is, so abandoning twice does nothing.
 */
export async function loadAbandonable(state: StateStore, opId: string, k: AbandonableKind): Promise<{ op: Operation; journal: JournalEntry[] }> {
  const op = await state.getOperation(opId);
  if (!op || op.kind !== k.kind) throw new NotFoundError(`no ${k.noun} ${opId}`, { hint: `${k.list} lists them` });
  const journal = await state.listJournal(op.id);
  if (op.status === "abandoned") return { op, journal };
  if (!UNFINISHED.has(op.status)) throw new UsageError(`${op.id} is ${op.status}: there is nothing to abandon`, { hint: `${k.list} ${op.id}` });
  if (stepState(journal, "switch").started) {
    const { why, hint } = k.pastSwitch(op);
    throw new UsageError(`${op.id} is past the ${why}`, { hint });
  }
  return { op, journal };
}

/** Loads the migration and refuses what abandoning cannot help (finished, or past the switch). */
export function abandonable(state: StateStore, opId: string): Promise<{ op: Operation; journal: JournalEntry[] }> {
  return loadAbandonable(state, opId, {
    kind: MIGRATE_KIND, noun: "migration", list: "automna migrate status",
    pastSwitch: (op) => ({ why: "routing switch: traffic may already reach the target, so it cannot be abandoned", hint: `automna migrate resume ${op.id}` }),
  });
}

/** What the operation leaves at the providers and in the object store if it is closed now. */
export async function leftoversOf(deps: Pick<AbandonDeps, "state" | "registry">, op: Operation, journal: JournalEntry[]): Promise<Leftovers> {
  const params = op.params as unknown as MigrateParams;
  const done = (step: string): boolean => stepState(journal, step).started && !stepState(journal, step).undone;
  let target: Leftovers["target"] = null;
  if (done("provision")) {
    const row = (await deps.state.listInstances({ user: op.user })).find((r) => r.opId === op.id && r.id !== params.sourceInstanceId);
    let resources = row?.resources ?? {};
    if (Object.keys(resources).length === 0) resources = (await (await deps.registry.get(params.to)).findByMarker(op.id))?.resources ?? {};
    if (Object.keys(resources).length) target = { provider: params.to, resources };
  }
  const sourceStopped = done("freeze") && (await deps.state.getInstanceById(params.sourceInstanceId)) ? { provider: params.from } : null;
  const archives = done("warm-archive") ? (["warm", "final"] as const).map((n) => archiveKey(op.user, op.id, n)) : [];
  return { target, sourceStopped, archives };
}

/** One line per leftover, for the question and the result. */
export function describeLeftovers(user: string, l: Leftovers): string[] {
  const lines: string[] = [];
  if (l.target) lines.push(`${user}'s target on ${l.target.provider} (${Object.entries(l.target.resources).map(([k, v]) => `${k} ${v}`).join(", ")}) stays there, forgotten by state: automna doctor reports it as an orphan, doctor --fix --remove-orphans removes it`);
  if (l.sourceStopped) lines.push(`${user}'s agent on ${l.sourceStopped.provider} stays stopped (frozen by the migration); migrate rollback would start it instead`);
  if (l.archives.length) lines.push(`archives may remain in the object store: ${l.archives.join(", ")}`);
  return lines;
}

/**
 * `migrate abandon`: closes an unfinished migration without driving it either way, so the user
 * can be migrated (or destroyed) again. Under the user's lease (a live holder refuses, exit 4; a
 * dead one of this machine is taken over): the target's row is dropped from state (its resource
 * stays, reported as an orphan), the journal records what was left, the operation becomes
 * `abandoned`. Nothing is sent to a provider.
 */
export async function abandonMigration(deps: AbandonDeps, opId: string): Promise<AbandonResult> {
  const { op } = await abandonable(deps.state, opId);
  const held = await holdLeases(deps.state, [op.user], { who: deps.who, operation: op.id, host: hostname(), pid: process.pid }, { ttlMs: deps.leaseTtlMs });
  try {
    const lease = held.ref(op.user);
    // Read again under the lease: a holder that finished meanwhile is not overwritten.
    const { op: now, journal } = await abandonable(deps.state, opId);
    const leftovers = await leftoversOf(deps, now, journal);
    if (now.status === "abandoned") return { op: now.id, user: now.user, status: "abandoned", leftovers };
    const params = now.params as unknown as MigrateParams;
    const row = (await deps.state.listInstances({ user: now.user })).find((r) => r.opId === now.id && r.id !== params.sourceInstanceId && r.role === "target");
    if (row) await deps.state.deleteInstance(row.id, { lease });
    await deps.state.appendJournal(now.id, { step: "abandon", phase: "done", data: { by: deps.who, ...leftovers, summary: `abandoned by ${deps.who}` } }, { lease });
    await deps.state.updateOperation(now.id, { status: "abandoned", error: `abandoned by ${deps.who} at ${now.step ?? "start"}` }, { lease });
    await deps.state.appendAudit({ who: deps.who, action: "migrate.abandon", target: now.user, details: { op: now.id, ...leftovers } });
    return { op: now.id, user: now.user, status: "abandoned", leftovers };
  } finally {
    await held.release();
  }
}
