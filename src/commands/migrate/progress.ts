import type { Context } from "../../context.js";
import type { ProgressBoard } from "../../lib/io.js";
import type { MigrateEvent, MigrateOutcome } from "../../migrate/types.js";
import type { StateWaitEvent } from "../../state/http-client.js";
import type { StateStore } from "../../state/types.js";

/** How a migration run reports progress: a board on stderr, or NDJSON events on stdout. */
export interface Progress {
  emit(event: MigrateEvent): void;
  finish(outcome: MigrateOutcome): void;
  close(): void;
}

/** How often, at most, the board repeats that it is waiting for the state server. */
const WAIT_NOTE_EVERY_MS = 5000;

/**
 * Says on the board (or as `state` NDJSON events) that the state server is down and calls wait
 * for it, and when it is back; the held leases renew themselves on its return (state/lease.ts).
 * Returns the unsubscribe (a no-op for an embedded store).
 */
export function watchStateWaits(ctx: Context, state: StateStore, ndjson: boolean): () => void {
  let lastNote = -Infinity;
  return state.onWait?.((e: StateWaitEvent) => {
    if (ndjson) {
      if (e.kind === "recovered" || e.downForMs - lastNote >= WAIT_NOTE_EVERY_MS) {
        lastNote = e.kind === "recovered" ? -Infinity : e.downForMs;
        ctx.io.ndjson({ type: "state", ...e, at: ctx.clock.now().toISOString() });
      }
      return;
    }
    if (e.kind === "recovered") {
      lastNote = -Infinity;
      return ctx.io.info(`the state server at ${e.url} answers again (down ${Math.round(e.downForMs / 1000)} s); leases renewed, migrations go on`);
    }
    if (e.downForMs - lastNote < WAIT_NOTE_EVERY_MS) return;
    lastNote = e.downForMs;
    ctx.io.warn(`waiting for the state server at ${e.url} (${e.reason}; down ${Math.round(e.downForMs / 1000)} s, waiting up to ${Math.round(e.giveUpInMs / 1000)} s more)`);
  }) ?? (() => undefined);
}

function seconds(ms: number | null): string {
  return ms === null ? "" : ` (downtime ${(ms / 1000).toFixed(1)} s)`;
}

/**
 * Live view on a terminal (one redrawn line per user), one line per user per step in CI and
 * pipes, nothing but errors with --quiet/--json, and with `-o ndjson` every event as a JSON line
 * on stdout (then one `result` line per user and a `summary`).
 */
export function progress(ctx: Context, ndjson: boolean): Progress {
  if (ndjson) {
    return {
      emit: (e) => ctx.io.ndjson(e),
      finish: (o) => ctx.io.ndjson({ type: "result", ...o }),
      close: () => undefined,
    };
  }
  const board: ProgressBoard = ctx.io.board();
  return {
    emit(e) {
      if (e.type === "warn") return ctx.io.warn(`${e.user}: ${e.message}`);
      if (e.type === "info") return ctx.io.verbose(`${e.user}: ${e.step ?? ""}: ${e.message}`);
      if (e.phase === "done") return ctx.io.verbose(`${e.user}: ${e.step}: ${e.message}`);
      if (e.phase === "failed") return board.update(e.user, `${e.step} failed: ${e.message}`);
      board.update(e.user, `${e.step}: ${e.message}`);
    },
    finish(o) {
      if (o.result === "migrated") board.done(o.user, `migrated ${o.from} -> ${o.to}${seconds(o.downtimeMs)}`);
      else if (o.result === "rolled_back") board.fail(o.user, `rolled back: ${o.error?.message.split("\n")[0] ?? "unknown reason"}`);
      else board.fail(o.user, `failed at ${o.step ?? "start"}: ${o.error?.message.split("\n")[0] ?? "unknown"}`);
    },
    close: () => board.close(),
  };
}
