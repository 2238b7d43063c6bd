import { envDigest, readAgentEnv, type ScriptRunner } from "../access/agent-env.js";
import { AutomnaError } from "../lib/errors.js";
import { mib } from "../lib/output.js";
import { revealAll } from "../lib/redact.js";
import { envFileText, refuseLineBreaks } from "../providers/vm/agent-container.js";
import { runScript, setAgent } from "./host.js";
import { hashLines, listingDigest, parseReport, reportNumber, reportSha, type Report } from "./report.js";
import type { Frozen, Run } from "./run.js";
import { curlConfig, freezeScript, frozenListingScript, warmArchiveScript, warmRestoreScript } from "./scripts.js";
import { finishUpload, madeArchive, presign, putStdin, type SentArchive } from "./transfer.js";

/**
 * The data steps before the verification: the warm copy (agent serving), its restore on the
 * target, the freeze with the delta, each one remote command on one host (plus the parts of an
 * archive past the multipart threshold). The final restore and the verification are in verify.ts.
 */

function partsNote(sent: SentArchive): string {
  return sent.parts ? ` in ${sent.parts} parts` : "";
}

/** Warm copy: the source's /data listed, archived and sent while the agent still serves. */
export async function warmArchive(r: Run): Promise<void> {
  const key = r.key("warm");
  await r.j.step("warm-archive", "archiving the source's /data and sending it (warm copy, agent still serving)", { key }, async (resumed) => {
    const source = await r.source();
    const stdin = await putStdin(r.host, key, resumed);
    const report = parseReport(await runScript(r.host, source, "archiving /data (warm)", warmArchiveScript(r.opId, r.deps.transfer.multipartThreshold), stdin));
    const sent = await finishUpload(r.host, source, r.opId, "warm", key, madeArchive(report, "warm"));
    const files = reportNumber(report, "files", "warm archive");
    return { ...sent, files, dataBytes: reportNumber(report, "dataBytes", "warm archive"), summary: `warm archive ${mib(sent.bytes)} (${files} files) sent${partsNote(sent)}` };
  });
}

/**
 * The agent's environment (its `--env` values and secrets: the agent would start without its API
 * keys otherwise) read from the source and written to the target, the target's agent held, and
 * the warm archive restored into its /data. On a VM the env file, the hold and the restore are
 * one command; a provider with an env API (Fly) takes the environment there. The journal gets
 * names and a digest, never values.
 */
export async function warmRestore(r: Run): Promise<void> {
  const warm = r.j.learned<{ sha256: string; bytes: number }>("warm-archive");
  const key = r.key("warm");
  await r.j.step("warm-restore", "carrying the agent's environment and restoring the warm archive on the target (its agent held)", { key, sha256: warm.sha256 }, async () => {
    const [source, target] = await Promise.all([r.source(), r.target()]);
    const run: ScriptRunner = (instance, what, script, stdin) => runScript(r.host, instance, what, script, stdin, 600_000);
    await r.j.fence();
    const values = await readAgentEnv(r.from, source, run);
    refuseLineBreaks("value of", revealAll(values));
    // A VM (reached over SSH) takes env file, hold and restore in one command; the others through their API.
    const onVm = r.to.reach === "ssh";
    let envText: string | undefined;
    if (onVm) {
      envText = envFileText(revealAll(values));
    } else {
      const access = r.to.access(target);
      await r.j.fence();
      // Set while the target is held: it starts with them when start-target releases it.
      await access.updateEnv({ set: values, unset: [] }, (what, script, stdin) => run(target, what, script, stdin), { port: r.deps.health.port, restart: false });
      if (!access.createsHeld) await setAgent(r.host, r.to, target, false);
    }
    const script = warmRestoreScript(r.opId, {
      sha256: warm.sha256, bytes: warm.bytes, hold: onVm,
      env: envText === undefined ? undefined : { image: target.image, port: r.deps.health.port, bytes: Buffer.byteLength(envText) },
    });
    await runScript(r.host, target, "restoring warm.tar", script, curlConfig(presign(r.host, "GET", key)) + (envText ?? ""));
    const names = Object.keys(values).sort();
    const carried = names.length ? `${names.length} variable${names.length === 1 ? "" : "s"} carried (${names.join(", ")})` : "no variables to carry";
    return { names, digest: envDigest(values), summary: `warm archive restored on the target; ${carried}` };
  });
}

/**
 * The freeze: the source's agent stopped (downtime starts), then in the same remote command /data
 * listed again and only what changed since the warm listing (the quick check) archived and sent.
 */
export async function freeze(r: Run): Promise<void> {
  const key = r.key("final");
  await r.j.step("freeze", "freezing the source agent and sending what changed since the warm copy", { key }, async (resumed) => {
    const source = await r.source();
    // A provider that holds agents by API does it there; a VM's docker stop is the script's first line.
    const onVm = r.from.reach === "ssh";
    if (!onVm) await setAgent(r.host, r.from, source, false);
    const stdin = await putStdin(r.host, key, resumed);
    // Not resumed: a first freeze, or one after an interruption restarted the source (interrupt.ts),
    // whose earlier delta is stale: archived anew rather than reused.
    const script = freezeScript(r.opId, r.deps.transfer.multipartThreshold, onVm, !resumed);
    const text = await runScript(r.host, source, "archiving what changed (frozen)", script, stdin, undefined, true);
    const report = parseReport(text);
    const sent = await finishUpload(r.host, source, r.opId, "final", key, madeArchive(report, "final"));
    r.memo.frozen = frozenOf(report);
    const changed = reportNumber(report, "changed", "final archive");
    return {
      ...sent, frozenAt: r.deps.now().toISOString(), changed, files: reportNumber(report, "files", "final archive"), dataBytes: reportNumber(report, "dataBytes", "final archive"),
      listing: r.memo.frozen.listing,
      summary: `source agent stopped (downtime starts); ${changed} changed, final archive ${mib(sent.bytes)} sent${partsNote(sent)}`,
    };
  });
}

function frozenOf(report: Report): Frozen {
  return { listing: reportSha(report, "listing", "the frozen listing"), hashes: hashLines(report.sections.hashes ?? []), removed: report.sections.removed ?? [] };
}

/** The frozen listing's digest, hashes and removals: from this process, or read again from the source and checked against the journal. */
export async function frozenListing(r: Run): Promise<Frozen> {
  if (r.memo.frozen) return r.memo.frozen;
  const report = parseReport(await runScript(r.host, await r.source(), "reading the frozen listing", frozenListingScript(r.opId, false), undefined, undefined, true));
  const frozen = frozenOf(report);
  journaled(r, frozen.listing);
  r.memo.frozen = frozen;
  return frozen;
}

/** The frozen canonical listing itself, from the source (a target that is not what the delta predicted is compared with it). */
export async function frozenCanon(r: Run): Promise<string[]> {
  const report = parseReport(await runScript(r.host, await r.source(), "reading the frozen listing", frozenListingScript(r.opId, true), undefined, undefined, true));
  const listing = report.sections.listing ?? [];
  journaled(r, listingDigest(listing));
  return listing;
}

/** Throws unless `digest` is the frozen listing's digest the journal recorded. */
function journaled(r: Run, digest: string): void {
  const recorded = String(r.j.learned("freeze").listing);
  if (digest !== recorded) {
    throw new AutomnaError(`the frozen listing on the source is not the one journaled (${digest.slice(0, 12)}, journaled ${recorded.slice(0, 12)})`, { code: "source_changed", hint: "roll the migration back and start it again" });
  }
}

/**
 * What a target script reads after its config line (latin1): the paths to remove, or with
 * `listing` the frozen canonical listing; then the delta's file paths.
 */
export function wanted(frozen: Frozen, listing?: string[]): string {
  const lines = (xs: Iterable<string>): string => [...xs].map((l) => `${l}\n`).join("");
  const head = listing ? `--- listing\n${lines(listing)}` : `--- removed\n${lines(frozen.removed)}`;
  return `${head}--- files\n${lines(frozen.hashes.keys())}`;
}
