import { hostname } from "node:os";
import { holdLeases } from "../state/lease.js";
import type { JournalEntry, Operation, StateStore } from "../state/types.js";
import { loadAbandonable, type AbandonDeps } from "./abandon.js";
import { FAILOVER_KIND, type FailoverParams } from "./failover.js";
import { stepState } from "./journal.js";

/**
 * `failover abandon`: ends an unfinished failover (killed, failed) that should not be finished,
 * without leaving an orphan: the target it provisioned is destroyed at its provider (found by the
 * operation's marker when its ids never reached state) and its row dropped, so the user's live row
 * is the old instance again, as before the failover. A failover past the DNS switch only goes
 * forward. Under the user's lease (a live holder refuses, exit 4; a dead one of this machine is
 * taken over); the journal records what was removed, the operation becomes `abandoned`.
 */

export interface FailoverAbandonResult {
  op: string;
  user: string;
  status: "abandoned";
  /** The target destroyed (its provider's resource ids); null when none was made. */
  removed: { provider: string; resources: Record<string, string> } | null;
  /** The old agent was stopped by --force and stays stopped (a forced failover's source). */
  sourceStopped: boolean;
}

/** Loads the failover and refuses what abandoning cannot help (finished, or past the switch). */
export function abandonableFailover(state: StateStore, opId: string): Promise<{ op: Operation; journal: JournalEntry[] }> {
  return loadAbandonable(state, opId, {
    kind: FAILOVER_KIND, noun: "failover", list: "automna failover status",
    pastSwitch: (op) => ({
      why: "DNS switch: traffic may already reach the new agent, so it can only go forward",
      hint: `automna failover ${op.user} --to ${(op.params as unknown as FailoverParams).to}`,
    }),
  });
}

/** Whether the forced failover's fence stopped the old agent (it stays stopped when abandoned). */
export function fencedSource(op: Operation, journal: JournalEntry[]): boolean {
  return (op.params as unknown as FailoverParams).forced && stepState(journal, "fence-source").started;
}

export async function abandonFailover(deps: AbandonDeps, opId: string): Promise<FailoverAbandonResult> {
  const { op: first } = await abandonableFailover(deps.state, opId);
  const held = await holdLeases(deps.state, [first.user], { who: deps.who, operation: first.id, host: hostname(), pid: process.pid }, { ttlMs: deps.leaseTtlMs });
  try {
    const lease = held.ref(first.user);
    // Read again under the lease: a holder that finished meanwhile is not overwritten.
    const { op, journal } = await abandonableFailover(deps.state, opId);
    const sourceStopped = fencedSource(op, journal);
    if (op.status === "abandoned") {
      const done = journal.findLast((e) => e.step === "abandon" && e.phase === "done")?.data.removed as FailoverAbandonResult["removed"] | undefined;
      return { op: op.id, user: op.user, status: "abandoned", removed: done ?? null, sourceStopped };
    }
    const params = op.params as unknown as FailoverParams;
    let removed: FailoverAbandonResult["removed"] = null;
    if (stepState(journal, "provision").started) {
      const to = await deps.registry.get(params.to);
      const row = (await deps.state.listInstances({ user: op.user })).find((r) => r.opId === op.id && r.id !== params.sourceInstanceId);
      let resources = row?.resources ?? {};
      // A create whose ids never reached state may still have made something: found by its marker.
      if (Object.keys(resources).length === 0) resources = (await to.findByMarker(op.id))?.resources ?? {};
      if (Object.keys(resources).length) {
        await to.destroy({ resources, user: op.user });
        removed = { provider: params.to, resources };
      }
      if (row) await deps.state.deleteInstance(row.id, { lease });
    }
    const summary = `abandoned by ${deps.who}: ${removed ? `target on ${removed.provider} destroyed` : "no target had been made"}; ${op.user} stays on ${params.from}`;
    await deps.state.appendJournal(op.id, { step: "abandon", phase: "done", data: { by: deps.who, removed, sourceStopped, summary } }, { lease });
    await deps.state.updateOperation(op.id, { status: "abandoned", error: `abandoned by ${deps.who} at ${op.step ?? "start"}` }, { lease });
    await deps.state.appendAudit({ who: deps.who, action: "failover.abandon", target: op.user, details: { op: op.id, removed, sourceStopped } });
    return { op: op.id, user: op.user, status: "abandoned", removed, sourceStopped };
  } finally {
    await held.release();
  }
}
