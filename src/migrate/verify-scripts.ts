import { fetchArchive, sha, whole } from "./scripts.js";
import { CANON_AWK, COMPARE_AWK, EXTRAS_AWK, prelude, quoted } from "./shell.js";

/**
 * The scripts of the final restore and the verification (verify.ts). The target is checked in one
 * of two ways:
 * - by digest, inside the freeze: the target applies the delta (the paths the source removed since
 *   the warm copy, then the final archive), lists itself, and compares the digest of its canonical
 *   listing with the frozen source's. Nothing that grows with /data crosses the network.
 * - path by path, when the digests differ (a path the warm copy caught that the source no longer
 *   has, an extraction something stood in the way of): the source's canonical listing goes to the
 *   target, which names up to five differences (the final restore first removes what the source
 *   does not have and extracts the delta again).
 * Stdin of the target's scripts: `--- removed` and the paths to remove, or `--- listing` and the
 * source's canonical listing; then `--- files` and the delta's file paths (see copy.ts wanted).
 */

/** Splits stdin (after a config line, if any) into the work directory's want.* files. */
const READ_WANTED = `: > "$W/want.removed"; : > "$W/want.canon"; : > "$W/want.files"
awk -v r="$W/want.removed" -v a="$W/want.canon" -v b="$W/want.files" '/^--- removed$/ { f = r; next } /^--- listing$/ { f = a; next } /^--- files$/ { f = b; next } f != "" { print > f }'`;

/**
 * Removes what the target must not keep and prints `removed=`: `listed`, every path the source's
 * listing lacks or has as another type; else the paths the source removed, as the target's own
 * listing has them (not listed at all when there are none: the common case costs nothing).
 */
function removeExtras(listed: boolean): string {
  const remove = `list_only "$W/before.list"
: > "$W/extras"
awk -v out="$W/extras" -v listed=${listed ? 1 : 0} ${quoted(EXTRAS_AWK)} "$W/${listed ? "want.canon" : "want.removed"}" "$W/before.list"
if [ -s "$W/extras" ]; then tr '\\n' '\\0' < "$W/extras" | xargs -0 rm -rf --; fi`;
  return listed ? remove : `if [ -s "$W/want.removed" ]; then
${remove}
else echo removed=0; fi`;
}

/**
 * The target's report by digest: `listing=` (its canonical listing's digest) and, when that is
 * `listing` (the frozen source's), `differences=0`, the sha256 of the delta's files and every
 * file's when `full`; the work directory goes then. When the digests differ, it stays for the
 * path-by-path check the CLI runs next.
 */
function digestReport(listing: string, full: boolean): string {
  // --verify full hashes every file, from the stat listing; quick needs no more than the canonical one's digest.
  const list = full ? `list_only "$W/tgt.list"
awk -v canon="$W/tgt.canon" ${quoted(CANON_AWK)} "$W/tgt.list" > "$W/tgt.report"
while IFS= read -r line; do case "$line" in dataBytes=*) DBYTES=\${line#*=} ;; esac; done < "$W/tgt.report"
listing_sum "$W/tgt.canon"` : 'canon_sum "$W/tgt.canon.sum"';
  return `${list}
read -r LISTING _ < "$W/tgt.canon.sum"
echo "listing=$LISTING"
if [ "$LISTING" = "${sha(listing)}" ]; then
  echo differences=0
  ${hashesAndDone(full)}
fi`;
}

/**
 * The target's report path by path: how its listing differs from the wanted one (`differences=0`:
 * not at all; up to five `diff=` lines), the sha256 of the delta's files, every file's when `full`.
 */
function pathsReport(full: boolean): string {
  return `list_only "$W/tgt.list"
awk -v wanted="$W/want.canon" -v only="$W/want.files" ${quoted(COMPARE_AWK)} "$W/want.files" "$W/want.canon" "$W/tgt.list" > "$W/tgt.report"
while IFS= read -r line; do echo "$line"; case "$line" in deltaBytes=*) PBYTES=\${line#*=} ;; dataBytes=*) DBYTES=\${line#*=} ;; esac; done < "$W/tgt.report"
hash_for "$PBYTES"
${hashesAndDone(full)}`;
}

/** The report's tail either way: the delta's file hashes, every file's when `full`, then the work directory goes. */
function hashesAndDone(full: boolean): string {
  return `echo '--- hashes'; hash_files "$W/want.files"
${full ? `hash_for "$DBYTES"
echo '--- manifest'; manifest "$W/tgt.list"` : ""}
cd /; rm -rf "$W"`;
}

/**
 * Final restore on the target, checked by digest: the delta (`bytes` long) downloaded and checked,
 * the paths the source removed since the warm copy removed, the delta extracted, then
 * digestReport. An extraction that fails prints `extracted=0` and leaves the archive for
 * finalRepairScript. Stdin: the config line, `--- removed`, `--- files`.
 */
export function finalRestoreScript(workId: string, expected: string, bytes: number, full: boolean, listing: string): string {
  return `${prelude(workId)}
IFS= read -r CFG
${READ_WANTED}
hash_for ${whole(bytes)}
${fetchArchive("final", expected)}
${removeExtras(false)}
if tar -xf "$W/final.tar" 2> "$W/tar.err"; then
${digestReport(listing, full)}
else echo extracted=0; fi`;
}

/**
 * The final restore again, path by path, after finalRestoreScript's digest differed: everything
 * the source's listing lacks (or has as another type) removed, the delta extracted again, then
 * the path-by-path report. Stdin: `--- listing`, `--- files`.
 */
export function finalRepairScript(workId: string, full: boolean): string {
  return `${prelude(workId)}
${READ_WANTED}
[ -f "$W/final.tar" ] || { echo "the final archive is gone from $W" >&2; exit 71; }
${removeExtras(true)}
tar -xf "$W/final.tar"
${pathsReport(full)}`;
}

/** The target's report by digest alone (a resumed verify; `bytes`: the delta's, to pick the hasher). Stdin: `--- removed`, `--- files`. */
export function targetCheckScript(workId: string, full: boolean, listing: string, bytes: number): string {
  return `${prelude(workId)}
${READ_WANTED}
hash_for ${whole(bytes)}
${digestReport(listing, full)}`;
}

/** The target's report path by path alone (a resumed verify whose digest differed). Stdin: `--- listing`, `--- files`. */
export function targetCompareScript(workId: string, full: boolean): string {
  return `${prelude(workId)}
${READ_WANTED}
${pathsReport(full)}`;
}

/**
 * The frozen source again, while the target restores: `changed=0` when /data is exactly as the
 * freeze listed it (an agent restarted behind our back would have written), and the full manifest
 * when asked.
 */
export function sourceCheckScript(workId: string, full: boolean): string {
  return `${prelude(workId)}
[ -f "$W/freeze.list" ] || { echo "the frozen listing is gone from $W" >&2; exit 71; }
${full ? "list_data" : "list_only"} "$W/check.list"
# Unchanged directories list in the same order: sorting is only needed when they differ.
if cmp -s "$W/check.list" "$W/freeze.list" || { LC_ALL=C sort "$W/freeze.list" > "$W/freeze.sorted"; LC_ALL=C sort "$W/check.list" | cmp -s - "$W/freeze.sorted"; }; then echo changed=0
else
  echo changed=1
  awk -v wanted="$W/final.canon" -v only= ${quoted(COMPARE_AWK)} "$W/final.canon" "$W/check.list"
fi
${full ? `hash_for "$DBYTES"
echo '--- manifest'; manifest "$W/check.list"` : ""}`;
}
