import { AutomnaError } from "../lib/errors.js";
import { mib } from "../lib/output.js";
import { frozenCanon, frozenListing, wanted } from "./copy.js";
import { runScript } from "./host.js";
import { manifestDifferences, parseManifest } from "./manifest.js";
import { hashLines, parseReport, readable, reportNumber, type Report } from "./report.js";
import type { Run } from "./run.js";
import { curlConfig } from "./scripts.js";
import { finalRepairScript, finalRestoreScript, sourceCheckScript, targetCheckScript, targetCompareScript } from "./verify-scripts.js";
import { presign } from "./transfer.js";

/**
 * The final restore and the verification.
 *
 * `quick` (the default) trusts the quick check's verdict on what did not change and checks the
 * rest: the target's listing (every path, its type and size) equals the frozen source's, every
 * file the delta carried has the same sha256 on both sides, each archive arrived with the sha256
 * it left with, and the frozen source did not change meanwhile (a restarted agent would have
 * written). `full` also hashes every file on both sides while frozen and compares the manifests:
 * it is what catches a file that changed on the target after the warm restore, or a change the
 * source's size, times and inode do not show.
 */

/** The delta applied on the target, while the frozen source is listed again (two hosts: in parallel). */
export async function finalRestore(r: Run): Promise<void> {
  const final = r.j.learned<{ sha256: string; bytes: number }>("freeze");
  const key = r.key("final");
  const full = r.verifyMode === "full";
  await r.j.step("final-restore", "applying the final archive on the target (the frozen source checked meanwhile)", { key, sha256: final.sha256 }, async () => {
    const frozen = await frozenListing(r);
    const [target, source] = await Promise.all([r.target(), r.source()]);
    const stdin = curlConfig(presign(r.host, "GET", key)) + wanted(frozen);
    // stdin is latin1: the config line is ASCII, the paths as the source gave them.
    const [t, s] = await Promise.all([
      runScript(r.host, target, "restoring final.tar", finalRestoreScript(r.opId, final.sha256, final.bytes, full, frozen.listing), stdin, undefined, true),
      runScript(r.host, source, "checking the frozen source", sourceCheckScript(r.opId, full), undefined, undefined, true),
    ]);
    const byDigest = parseReport(t);
    r.memo.target = await pathByPath(r, byDigest, finalRepairScript(r.opId, full));
    r.memo.source = parseReport(s);
    const removed = reportNumber(byDigest, "removed", "final restore") + (r.memo.target === byDigest ? 0 : reportNumber(r.memo.target, "removed", "final restore"));
    return { removed, summary: `final archive applied on the target (${removed} path${removed === 1 ? "" : "s"} removed)` };
  });
}

/**
 * The target's report by digest when its listing's digest is the frozen source's; else `script`
 * (finalRepairScript or targetCompareScript) run on it with the frozen canonical listing, path by
 * path. Nothing else differs in the common case, so only then does the listing cross the network.
 */
async function pathByPath(r: Run, byDigest: Report, script: string): Promise<Report> {
  if (byDigest.kv.differences === "0") return byDigest;
  const frozen = await frozenListing(r);
  const stdin = wanted(frozen, await frozenCanon(r));
  return parseReport(await runScript(r.host, await r.target(), "comparing the target with the frozen listing", script, stdin, undefined, true));
}

/** The target checked again (a resumed verify): by digest, then path by path when that differs. */
async function targetChecked(r: Run, full: boolean): Promise<Report> {
  const frozen = await frozenListing(r);
  const bytes = r.j.learned<{ bytes: number }>("freeze").bytes;
  const byDigest = parseReport(await runScript(r.host, await r.target(), "checking the target", targetCheckScript(r.opId, full, frozen.listing, bytes), wanted(frozen), undefined, true));
  return pathByPath(r, byDigest, targetCompareScript(r.opId, full));
}

export async function verify(r: Run): Promise<void> {
  const full = r.verifyMode === "full";
  const label = full ? "verifying every file's sha256 on both sides (--verify full)" : "verifying the target's listing and the changed files' sha256";
  await r.j.step("verify", label, { mode: r.verifyMode }, async () => {
    const frozen = await frozenListing(r);
    const learned = r.j.learned<{ listing: string; files: number; dataBytes: number }>("freeze");
    // From the final restore in this process; a resumed verify asks both hosts again.
    const [target, source] = await Promise.all([
      r.memo.target ?? targetChecked(r, full),
      r.memo.source ?? runScript(r.host, await r.source(), "checking the frozen source", sourceCheckScript(r.opId, full), undefined, undefined, true).then(parseReport),
    ]);
    if (source.kv.changed !== "0") {
      throw new AutomnaError(`${r.user}'s /data on the source changed after it was frozen${details(source)}`, { code: "source_changed", hint: "something restarted the source agent; the migration rolls back" });
    }
    const problems = target.kv.differences === "0" ? [] : target.diffs.length ? target.diffs.map(readable) : ["the listings differ"];
    const theirs = hashLines(target.sections.hashes ?? []);
    for (const [path, sha] of frozen.hashes) if (theirs.get(path) !== sha && problems.length < 5) problems.push(`${readable(path)} differs (sha256)`);
    let manifest: string | undefined;
    if (full) {
      const want = parseManifest((source.sections.manifest ?? []).join("\n"));
      const have = parseManifest((target.sections.manifest ?? []).join("\n"));
      if (want.digest !== have.digest) problems.push(...manifestDifferences(want, have).map(readable));
      manifest = want.digest;
    }
    if (problems.length) throw new AutomnaError(`verification failed: the target's /data differs from the source's (${problems.slice(0, 5).join("; ")})`, { code: "verify_failed" });
    const what = full ? "every file's sha256 matches" : `listings match, ${frozen.hashes.size} changed file${frozen.hashes.size === 1 ? "" : "s"} checked`;
    return {
      mode: r.verifyMode, files: learned.files, bytes: learned.dataBytes, listing: learned.listing, ...(manifest ? { manifest } : {}),
      summary: `verified ${learned.files} files, ${mib(learned.dataBytes)}: ${what}`,
    };
  });
}

function details(report: Report): string {
  return report.diffs.length ? ` (${report.diffs.map(readable).join("; ")})` : "";
}
