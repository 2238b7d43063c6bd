import { ConflictError } from "../lib/errors.js";
import type { Operation, OperationStatus, StateStore } from "../state/types.js";
import { MIGRATE_KIND } from "./types.js";

/** Statuses of a migration that still needs someone: resume, roll back or abandon it. */
export const UNFINISHED_STATUSES: readonly OperationStatus[] = ["running", "rolling_back", "failed"];
export const UNFINISHED = new Set<OperationStatus>(UNFINISHED_STATUSES);

/** The three ways to end an unfinished migration, for hints. */
export function endingCommands(opId: string): string {
  return `automna migrate resume ${opId}, automna migrate rollback ${opId}, or automna migrate abandon ${opId}`;
}

/** The user's unfinished migration, if any. */
export async function unfinishedMigration(state: StateStore, user: string): Promise<Operation | undefined> {
  return (await state.listOperations({ user, kind: MIGRATE_KIND })).find((o) => UNFINISHED.has(o.status));
}

/** Exit 4: the user has an unfinished migration, which must be ended before `what` (naming how). */
export function unfinishedConflict(op: Operation, what: string): ConflictError {
  return new ConflictError(`${op.user} has an unfinished migration ${op.id} (${op.status} at ${op.step ?? "start"}): ${what}`, {
    code: "unfinished_migration",
    hint: `end it first: ${endingCommands(op.id)} (automna migrate status ${op.id} shows where it stands)`,
  });
}
