import { errorJson, rememberFailure } from "../lib/errors.js";
import type { JournalEntry, Operation } from "../state/types.js";
import { stepState } from "./journal.js";
import type { MigrateOutcome, MigrateParams } from "./types.js";

/** One user's outcome from the operation and its journal (the documented `migrate --json` shape). */
export function outcomeOf(op: Operation, journal: readonly JournalEntry[], error: unknown): MigrateOutcome {
  const params = op.params as unknown as MigrateParams;
  const learned = (step: string): Record<string, unknown> | undefined => stepState(journal, step).done;
  const provision = stepState(journal, "provision");
  const sw = learned("switch");
  const warm = learned("warm-archive");
  const final = learned("freeze");
  const result: MigrateOutcome["result"] = op.status === "succeeded" ? "migrated" : op.status === "rolled_back" ? "rolled_back" : "failed";
  const down = learned("start-target")?.downtimeMs;
  const failedEntry = [...journal].reverse().find((e) => e.phase === "failed");
  const outcome: MigrateOutcome = {
    user: op.user,
    op: op.id,
    result,
    from: params.from,
    to: params.to,
    step: op.step,
    downtimeMs: typeof down === "number" ? down : null,
    bytes: warm ? Number(warm.bytes ?? 0) + Number(final?.bytes ?? 0) : null,
    target: provision.done && !provision.undone ? { instanceId: String(provision.done.instanceId), resources: provision.done.resources as Record<string, string> } : null,
    dns: sw && !sw.skipped ? { name: String(sw.name), type: String(sw.type), content: String(sw.content) } : null,
    error: null,
  };
  const unrestored = learned("rollback")?.unrestored;
  if (Array.isArray(unrestored) && unrestored.length) outcome.unrestored = unrestored.map(String);
  if (error !== null && error !== undefined) {
    outcome.error = errorJson(error);
    rememberFailure(outcome, error);
  } else if (result !== "migrated" && op.error) {
    outcome.error = { code: result === "rolled_back" ? "rolled_back" : "failed", message: op.error };
  } else if (result === "failed" && failedEntry) {
    outcome.error = { code: "failed", message: String(failedEntry.data.error ?? "failed") };
  }
  return outcome;
}
