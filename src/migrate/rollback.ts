import { AutomnaError, LockedError } from "../lib/errors.js";
import { abortUploads } from "../lib/s3-multipart.js";
import type { Instance } from "../state/types.js";
import { cleanupWork, setAgent, waitHealthy } from "./host.js";
import { archivePrefix, type Run } from "./run.js";

/**
 * Undoes a migration that has not reached the switch: the source agent serves again, the target
 * is destroyed (found by its marker when its ids never reached state) and its row deleted, the
 * work files and archives go. Each undo is journaled `undone` once finished, so a rollback that
 * crashes resumes with what is left.
 */
export async function rollback(r: Run, reason: string): Promise<void> {
  const { j } = r;
  if (j.op.status !== "rolling_back") await j.update({ status: "rolling_back", error: reason.slice(0, 1000) });
  await j.step("rollback", `rolling back: ${reason.split("\n")[0]}`, { reason: reason.slice(0, 1000) }, async () => {
    // What could not be put back (a source or target already gone): said, never a reason to stop,
    // so a rollback always ends and the user can be migrated or provisioned again.
    const unrestored: string[] = [];
    const note = (text: string): void => {
      unrestored.push(text);
      j.emit("rollback", undefined, text, "warn");
    };
    const source = await r.sourceRow();
    if (!source) note(`the source instance of ${r.user} is gone from state: there is no agent to restart (automna provision ${r.user} makes a new one)`);
    let sourceHealthy = source !== undefined;
    if (j.state("freeze").started && !j.state("freeze").undone) {
      j.checkpoint();
      sourceHealthy = source ? await restartSource(r, source, note) : false;
      const summary = !source ? "source gone: nothing to restart" : sourceHealthy ? "source agent serving again" : "source agent started (not healthy yet)";
      await j.append("freeze", "undone", { sourceHealthy, summary });
      j.emit("freeze", "undone", summary);
    }
    if (j.state("provision").started && !j.state("provision").undone) {
      j.checkpoint();
      const row = await r.targetRow();
      let resources = row?.resources ?? {};
      // A create whose ids never reached state may still have made something: find it by marker.
      if (Object.keys(resources).length === 0) resources = (await r.to.findByMarker(r.opId))?.resources ?? {};
      await j.fence();
      const removed = Object.keys(resources).length ? await r.to.destroy({ resources, user: r.user }) : [];
      if (row) await r.deps.state.deleteInstance(row.id, { lease: r.lease });
      const summary = `target removed (${removed.join(", ") || "nothing was made, or it was already gone"})`;
      await j.append("provision", "undone", { removed, summary });
      j.emit("provision", "undone", summary);
    }
    if (j.state("warm-archive").started && !j.state("warm-archive").undone) {
      // Leftovers cost a little disk and storage; failing to remove them does not block the rollback.
      const errors: string[] = [];
      if (source) await cleanupWork(r.host, source, r.opId).catch((e: unknown) => errors.push((e as Error).message));
      for (const name of ["warm", "final"] as const) await r.deps.objects.deleteObject(r.key(name)).catch((e: unknown) => errors.push((e as Error).message));
      // An archive being sent in parts: the parts stored so far are deleted with the upload.
      await abortUploads(r.deps.objects, `${archivePrefix(r.user, r.opId)}`).catch((e: unknown) => errors.push((e as Error).message));
      if (errors.length) j.emit("rollback", undefined, `could not remove every work file: ${errors[0]}`, "warn");
      await j.append("warm-archive", "undone", { leftovers: errors.length > 0, summary: errors.length ? "some work files left behind" : "archives and work files removed" });
    }
    const summary = unrestored.length ? `rolled back, but: ${unrestored.join("; ")}` : "rolled back: the source serves, the target is gone";
    return { sourceHealthy, unrestored, summary };
  });
  await j.update({ status: "rolled_back" });
}

/**
 * Starts the frozen source agent again and waits for it to answer. A source that cannot be
 * started or does not become healthy is noted (the rollback still ends); returns whether it serves.
 */
async function restartSource(r: Run, source: Instance, note: (text: string) => void): Promise<boolean> {
  try {
    await setAgent(r.host, r.from, source, true);
  } catch (error) {
    if (error instanceof LockedError || r.deps.signal.aborted) throw error;
    note(`the source agent on ${source.provider} could not be started: ${(error as Error).message.split("\n")[0]}`);
    return false;
  }
  try {
    await waitHealthy(r.host, source, r.deps.health, r.from);
    return true;
  } catch (error) {
    if (error instanceof LockedError || r.deps.signal.aborted) throw error;
    // The agent is started; its health is the operator's to look at, not a reason to keep the target.
    r.j.emit("rollback", undefined, `the source agent was started but is not healthy yet: ${(error as Error).message}`, "warn");
    return false;
  }
}


/** Refuses a rollback once the switch has begun (DNS may already point at the target). */
export function assertBeforeSwitch(r: Run): void {
  const sw = r.j.state("switch");
  if (sw.started || r.j.op.status === "succeeded") {
    const at = r.j.entries.find((e) => e.step === "switch" && e.phase === "intent")?.at;
    throw new AutomnaError(`${r.opId} is past the routing switch${at ? ` (begun ${at})` : ""}: traffic may already reach the target, so it can only go forward`, {
      code: "past_switch", exitCode: 2, hint: r.j.op.status === "succeeded" ? "it finished; the retired source is kept until gc" : `automna migrate resume ${r.opId}`,
    });
  }
}
