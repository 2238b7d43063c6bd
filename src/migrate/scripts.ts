import { shellQuote } from "../lib/known-hosts.js";
import { AGENT_CONTAINER, AGENT_ENV_FILE, agentRunArgs } from "../providers/vm/agent-container.js";
import { prelude, QUICK_CHECK_AWK, quoted } from "./shell.js";

/**
 * The shell scripts the data path runs on agent hosts, one remote command per step (POSIX sh;
 * tar, curl and sha256sum as the agent image contract promises; openssl, GNU find and GNU tar
 * used where present). Presigned URLs never appear in a command line: a script reads a curl
 * config line (`url = "..."`) from the first line of stdin and hands it to curl through the
 * shell's builtin printf (or a here-document), so `ps` on the host never shows it.
 *
 * Archives wait in the operation's work directory outside /data until the operation finishes, so
 * a resumed upload sends the very bytes whose sha256 was reported; a script run again after a
 * crash reuses a complete archive (`reused=1`) instead of making another.
 *
 * Output: `key=value` lines, then sections (`--- name` and its lines) where a script has them.
 */

const NAME_RE = /^[a-z0-9-]+$/;
const SHA_RE = /^[0-9a-f]{64}$/;

function archiveName(name: string): string {
  if (!NAME_RE.test(name)) throw new Error(`internal: bad archive name ${name}`);
  return name;
}

export function sha(value: string): string {
  if (!SHA_RE.test(value)) throw new Error("internal: bad sha256");
  return value;
}

export function whole(n: number): number {
  if (!Number.isSafeInteger(n) || n < 0) throw new Error(`internal: bad number ${n}`);
  return n;
}

/** The curl config line a script reads from stdin. */
export function curlConfig(url: string): string {
  if (/["\\\n\r$`]/.test(url)) throw new Error("internal: a presigned URL with quotes, newlines or shell characters");
  return `url = "${url}"\n`;
}

/**
 * After describe: `uploaded=1` (one PUT), `uploaded=skip` (already stored: SKIP named its size and
 * MD5), `uploaded=0` (past the threshold: parts follow); then the parts an earlier run sent.
 */
function send(name: string, threshold: number): string {
  return `if [ "$SIZE" -gt ${whole(threshold)} ]; then echo uploaded=0
elif [ -n "$SKIP" ] && [ "$REUSED" -eq 1 ] && [ "\${SKIP%% *}" = "$SIZE" ] && [ "$(md5sum < "$W/${name}.tar" | cut -d' ' -f1)" = "\${SKIP#* }" ]; then echo uploaded=skip
else put_archive ${name}; echo uploaded=1; fi
for e in "$W/${name}".e*; do [ -f "$e" ] && read -r tag < "$e" && printf 'part %s %s\\n' "\${e##*.e}" "$tag"; done; true`;
}

/** Reads the PUT config line and an optional `SKIP` line (`<size> <md5>` of the object already stored). */
const READ_PUT = `IFS= read -r CFG || CFG=
IFS= read -r SKIP || SKIP=
REUSED=0`;

/** The counts list_data found. */
const STATS = `printf 'files=%s\\ndataBytes=%s\\n' "$FILES" "$DBYTES"`;

/**
 * Warm copy on the source, agent serving: the stat listing of /data (the quick check's baseline,
 * with the host's time before it was taken), then tar | tee the archive | sha256 in one pass, then
 * one PUT if the archive is at most `threshold` bytes.
 */
export function warmArchiveScript(workId: string, threshold: number): string {
  return `${prelude(workId)}
${READ_PUT}
if [ -f "$W/warm.sha" ] && [ -f "$W/warm.tar" ] && [ -f "$W/warm.list.stats" ]; then REUSED=1; read -r FILES DBYTES < "$W/warm.list.stats"
else
  date +%s > "$W/warm.time"
  list_data "$W/warm.list"
  hash_for "$DBYTES"
  archive warm 1 .
fi
echo "reused=$REUSED"
${STATS}
describe warm
${send("warm", threshold)}`;
}

/**
 * Freeze on the source: stops the agent (`stopAgent`: a VM's docker; a provider that holds agents
 * by API has done it already), lists /data again (`fresh`: an earlier freeze's delta discarded),
 * and archives only what the quick check finds changed since the warm listing; prints the digest
 * of the canonical listing the target must end up with (`listing=`), the delta's file hashes and
 * the paths removed since the warm listing (not the listing itself: the target checks its own
 * against the digest); one PUT if the delta is at most `threshold` bytes.
 */
export function freezeScript(workId: string, threshold: number, stopAgent: boolean, fresh: boolean): string {
  return `${prelude(workId)}
${READ_PUT}
${stopAgent ? "agent stop" : ""}
${fresh ? 'rm -f "$W"/final.* "$W/freeze.list"' : ""}
if [ -f "$W/final.sha" ] && [ -f "$W/final.tar" ] && [ -f "$W/final.head" ]; then REUSED=1
else
  [ -f "$W/warm.list" ] || { echo "the warm copy's listing is gone from $W; the migration cannot continue" >&2; exit 71; }
  read -r T < "$W/warm.time"
  quick() {
    : > "$W/final.paths"; : > "$W/final.files"; : > "$W/final.canon"; : > "$W/final.removed"
    awk -v T="$T" -v tars="$W/final.paths" -v files="$W/final.files" -v canon="$W/final.canon" -v removed="$W/final.removed" ${quoted(QUICK_CHECK_AWK)} "$W/warm.list" "$1" > "$W/final.count"
  }
  # Listed and compared at once (the host's two cores); listed first where find has no -printf.
  stat_lines | tee "$W/freeze.list" | quick -
  if [ -f "$W/find.rc" ]; then list_only "$W/freeze.list"; quick "$W/freeze.list"; fi
  { IFS== read -r _ CHANGED; IFS== read -r _ PBYTES; IFS== read -r _ BACKSLASHES; } < "$W/final.count"
  # The listing's digest sorted and hashed while the delta is archived (the host's other core).
  listing_sum "$W/final.canon" & LP=$!
  hash_for "$PBYTES"
  archive_paths final "$W/final.paths" "$BACKSLASHES"
  wait "$LP"; read -r LISTING _ < "$W/final.canon.sum"
  { echo "listing=$LISTING"; echo '--- hashes'; hash_files "$W/final.files"; echo '--- removed'; cat "$W/final.removed"; } > "$W/final.headpart"
  mv "$W/final.headpart" "$W/final.head"
fi
echo "reused=$REUSED"
while IFS= read -r line; do echo "$line"; done < "$W/final.count"
describe final
${send("final", threshold)}
cat "$W/final.head"`;
}

/**
 * What the freeze printed after its counts, again (a resumed final restore, whose process lost
 * it); with `listing`, the frozen canonical listing too (a target that is not what the delta
 * predicted is compared with it, path by path).
 */
export function frozenListingScript(workId: string, listing: boolean): string {
  return `${prelude(workId)}
[ -f "$W/final.head" ] || { echo "the frozen listing is gone from $W" >&2; exit 71; }
cat "$W/final.head"
${listing ? `echo '--- listing'; cat "$W/final.canon"` : ""}`;
}

/** Writes the agent's env file from the rest of stdin (`bytes` long) and re-creates its container when it changed. */
function envFragment(image: string, port: number, bytes: number): string {
  const run = agentRunArgs({ image, port, envFile: "\0f" }).map((w) => (w === "\0f" ? '"$f"' : shellQuote(w))).join(" ");
  return `command -v cloud-init >/dev/null 2>&1 && cloud-init status --wait >/dev/null 2>&1 || true
f="\${AUTOMNA_ENV_FILE:-${AGENT_ENV_FILE}}"
if [ ${whole(bytes)} -gt 0 ] || [ -s "$f" ]; then
  [ -d "\${f%/*}" ] || mkdir -p "\${f%/*}"
  cat > "$f.new"
  [ "$(wc -c < "$f.new")" -eq ${bytes} ] || { rm -f "$f.new"; echo "the environment arrived incomplete; nothing changed" >&2; exit 65; }
  if cmp -s "$f.new" "$f"; then rm -f "$f.new"
  else
    # A dropped connection must not stop it between the container's removal and its re-creation.
    (trap '' HUP INT TERM PIPE; mv -f "$f.new" "$f"; docker rm -f ${AGENT_CONTAINER} >/dev/null 2>&1 || true; ${run} >/dev/null)
  fi
fi`;
}

/**
 * Downloads the archive at the URL in $CFG into `sink` (a pipeline reading curl's output that
 * leaves its sha256 in $W/x.sha), `before` each try and `after` it; curl failures are retried
 * whole; a sha256 other than `expected` runs `clean` and exits 65.
 */
function download(name: string, expected: string, o: { before: string; sink: string; after: string; clean: string }): string {
  return `n=0
while :; do
  ${o.before}
  { crc=0; printf '%s\\n' "$CFG" | curl -fsS -K - || crc=$?; echo "$crc" > "$W/x.rc"; } | ${o.sink}
  ${o.after}
  read -r crc < "$W/x.rc"
  [ "$crc" -ne 0 ] || break
  n=$((n + 1)); [ "$n" -lt 3 ] || { echo "downloading ${name}.tar failed (curl exit $crc)" >&2; exit 75; }
  sleep "$n"
done
read -r got _ < "$W/x.sha"
if [ "$got" != "${sha(expected)}" ]; then ${o.clean}; echo "archive ${name}.tar arrived with sha256 $got, expected ${expected}: corrupted in transfer" >&2; exit 65; fi`;
}

/** Streams the archive at the URL in $CFG into tar -x (sha256 on the way, via a fifo). */
function streamExtract(name: string, expected: string, clean: string): string {
  return `${download(name, expected, {
    before: `${clean}
  rm -f "$W/x.fifo"; mkfifo "$W/x.fifo"
  $HASH < "$W/x.fifo" > "$W/x.sha" & hp=$!
  trc=0`,
    sink: `tee "$W/x.fifo" | tar -xf - || trc=$?`,
    after: `wait "$hp" || true`,
    clean,
  })}
[ "$trc" -eq 0 ] || { echo "tar -x of ${name}.tar failed (exit $trc)" >&2; exit 70; }`;
}

/** Downloads the archive at the URL in $CFG to $W/<name>.tar, sha256 on the way. */
export function fetchArchive(name: string, expected: string): string {
  return download(name, expected, { before: "", sink: `tee "$W/${name}.tar" | $HASH > "$W/x.sha"`, after: "", clean: `rm -f "$W/${name}.tar"` });
}

const WIPE = "find . -mindepth 1 -maxdepth 1 -exec rm -rf {} +";

export interface WarmRestoreOptions {
  /** The archive's sha256 and size. */
  sha256: string;
  bytes: number;
  /** A VM target: the agent's env file follows the config line on stdin (this many bytes), for this image and port. */
  env?: { image: string; port: number; bytes: number } | undefined;
  /** Stop the target's agent first (a VM; a provider that holds agents by API created it held). */
  hold: boolean;
}

/**
 * Warm restore on the target: the agent's environment, the agent held, then /data replaced by
 * the warm archive streamed from the store straight into tar -x, its sha256 checked on the way.
 */
export function warmRestoreScript(workId: string, o: WarmRestoreOptions): string {
  return `${prelude(workId)}
IFS= read -r CFG
${o.env ? envFragment(o.env.image, o.env.port, o.env.bytes) : ""}
${o.hold ? "agent stop" : ""}
hash_for ${whole(o.bytes)}
${streamExtract("warm", o.sha256, WIPE)}`;
}

/**
 * Sends parts of `<name>.tar` (stdin: `<part number> <presigned URL>` lines) of `partSize` bytes,
 * four at a time, each retried twice; prints `part <n> <etag>` for every part it was given. The
 * ETags stay in the work directory, so a resumed upload can tell a completed object is this one.
 */
export function partsScript(workId: string, name: string, partSize: number): string {
  const n = archiveName(name);
  if (partSize % 1048576 !== 0) throw new Error("internal: part size not a whole number of MiB");
  return `${prelude(workId)}
f="$W/${n}.tar"
[ -f "$f" ] || { echo "the archive $f is gone" >&2; exit 71; }
size=$(($(wc -c < "$f"))); PS=${whole(partSize)}; BS=1048576
part() {
  off=$((($1 - 1) * PS)); len=$((size - off)); [ "$len" -le "$PS" ] || len=$PS
  i=0
  while :; do
    rm -f "$W/${n}.h$1" "$W/${n}.e$1"
    if dd if="$f" bs=$BS skip=$((off / BS)) count=$((PS / BS)) 2>/dev/null | curl -fsS -K /dev/fd/3 -T - -H "Content-Length: $len" -H "Transfer-Encoding:" -H "Expect:" -D "$W/${n}.h$1" -o /dev/null 3<<EOF
url = "$2"
EOF
    then break; fi
    i=$((i + 1)); [ "$i" -lt 3 ] || return 1
    sleep "$i"
  done
  tr -d '\\r' < "$W/${n}.h$1" | sed -n 's/^[Ee][Tt][Aa][Gg]:[ ]*//p' | tail -n 1 > "$W/${n}.e$1"
}
: > "$W/${n}.nums"
k=0
while IFS=' ' read -r num url; do
  echo "$num" >> "$W/${n}.nums"
  part "$num" "$url" &
  k=$((k + 1)); [ "$k" -lt 4 ] || { wait; k=0; }
done
wait
while IFS= read -r num; do
  e=; [ -f "$W/${n}.e$num" ] && read -r e < "$W/${n}.e$num" || true
  [ -n "$e" ] || { echo "uploading part $num of ${n}.tar failed" >&2; exit 72; }
  printf 'part %s %s\\n' "$num" "$e"
done < "$W/${n}.nums"`;
}

/**
 * Backup on a frozen host: the stat listing, the archive in one pass, and the full manifest of
 * what it holds (sent once the agent runs again: putArchiveScript or partsScript).
 */
export function backupArchiveScript(workId: string): string {
  return `${prelude(workId)}
rm -f "$W/backup.report"
{
  list_data "$W/backup.list"
  hash_for "$DBYTES"
  archive backup 0 .
  ${STATS}
  describe backup
  echo '--- manifest'; manifest "$W/backup.list"
} > "$W/backup.out"
# Kept whole beside the archive: a run killed while sending it resumes from them (backupSavedScript).
mv "$W/backup.out" "$W/backup.report"
cat "$W/backup.report"`;
}

/**
 * A backup an earlier run archived and was killed while sending: the ETags of the parts it sent,
 * then its archive's report as backupArchiveScript printed it; `none=1` (and its work directory
 * gone) when the host does not have it whole.
 */
export function backupSavedScript(workId: string): string {
  return `${prelude(workId)}
if [ -f "$W/backup.report" ] && [ -f "$W/backup.tar" ] && [ -f "$W/backup.sha" ]; then
  for e in "$W"/backup.e*; do [ -f "$e" ] && read -r tag < "$e" && printf 'part %s %s\\n' "\${e##*.e}" "$tag"; done; true
  cat "$W/backup.report"
else cd /; rm -rf "$W"; echo none=1; fi`;
}

/** Sends an archive already in the work directory with one PUT (a backup's, once its agent runs again). */
export function putArchiveScript(workId: string, name: string): string {
  const n = archiveName(name);
  return `${prelude(workId)}
IFS= read -r CFG
[ -f "$W/${n}.tar" ] || { echo "the archive $W/${n}.tar is gone" >&2; exit 71; }
put_archive ${n}`;
}

/**
 * Restore of a backup: the archive downloaded and its sha256 checked BEFORE anything is deleted
 * (a bad download leaves /data as it was), then /data replaced with it, then its full manifest.
 */
export function backupRestoreScript(workId: string, expected: string, bytes: number): string {
  return `${prelude(workId)}
IFS= read -r CFG
hash_for ${whole(bytes)}
${fetchArchive("restore", expected)}
${WIPE}
tar -xf "$W/restore.tar"
rm -f "$W/restore.tar"
list_data "$W/restored.list"
hash_for "$DBYTES"
echo '--- manifest'; manifest "$W/restored.list"`;
}

/** Bytes under /data (`du -sb`; busybox du has no -b, so KiB there). */
export function dataSizeScript(): string {
  return `set -eu
D="\${AUTOMNA_DATA:-/data}"
if b=$(du -sb "$D" 2>/dev/null); then set -- $b; echo "$1"; else set -- $(du -sk "$D"); echo $(($1 * 1024)); fi`;
}

/** Removes the operation's work directory (archives kept for a resumed upload until then). */
export function cleanupScript(workId: string): string {
  return `${prelude(workId)}
cd /
rm -rf "$W"`;
}
