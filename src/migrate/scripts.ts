/**
 * The shell scripts the data path runs on agent hosts (POSIX sh, plus what the agent image
 * contract promises: tar, sha256sum, curl). Presigned URLs never appear in a command line: the
 * script reads a curl config line (`url = "..."`) from the first line of stdin and hands it to
 * curl through the shell's builtin printf, so `ps` on the host never shows it.
 *
 * `/data` is `$AUTOMNA_DATA` where the host sets it (sandbox hosts), else `/data`. Archives wait
 * in a per-operation work directory outside /data until the operation finishes, so a resumed
 * upload finds the very bytes whose sha256 the journal recorded.
 */

const OP_RE = /^[a-z]+_[a-z0-9]+$/;

/** Lists /data (the working directory) as a manifest; see manifestScript. */
const MANIFEST_BODY = `nl=$(printf '\\n_'); nl=\${nl%_}
if [ -n "$(find . -name "*$nl*" | head -c 1)" ]; then echo "a file name in /data contains a newline; automna cannot move it safely" >&2; exit 66; fi
find . -mindepth 1 | LC_ALL=C sort | while IFS= read -r f; do
  if [ -L "$f" ]; then set -- $(readlink -- "$f" | sha256sum); printf 'l - %s %s\\n' "$1" "$f"
  elif [ -d "$f" ]; then printf 'd - - %s\\n' "$f"
  elif [ -f "$f" ]; then set -- $(sha256sum < "$f"); s=$(wc -c < "$f"); printf 'f %s %s %s\\n' "$((s))" "$1" "$f"
  else printf 'o - - %s\\n' "$f"; fi
done`;
const NAME_RE = /^[a-z0-9-]+$/;
const SHA_RE = /^[0-9a-f]{64}$/;

function prelude(workId: string): string {
  if (!OP_RE.test(workId)) throw new Error(`internal: bad work id ${workId}`);
  return [
    "set -eu",
    "umask 077",
    'D="${AUTOMNA_DATA:-/data}"',
    `W="\${HOME:-/root}/.automna/work/${workId}"`,
    'mkdir -p "$W"',
    'cd "$D"',
  ].join("\n");
}

function archiveName(name: string): string {
  if (!NAME_RE.test(name)) throw new Error(`internal: bad archive name ${name}`);
  return name;
}

/** The curl config line a script reads from stdin. */
export function curlConfig(url: string): string {
  if (/["\\\n\r]/.test(url)) throw new Error("internal: a presigned URL with quotes or newlines");
  return `url = "${url}"\n`;
}

/** Prints `sha256=<hex>` and `bytes=<n>` of an archive in the work directory. */
const DESCRIBE = (file: string): string =>
  `set -- $(sha256sum < "${file}"); s=$(wc -c < "${file}"); printf 'sha256=%s\\nbytes=%s\\n' "$1" "$((s))"`;

/**
 * Tars all of /data into `<name>.tar`. `live`: the agent is still writing, so GNU tar's exit 1
 * ("file changed as we read it", "file removed before we read it") is expected and accepted; the
 * final copy, taken frozen, accepts no warning at all.
 */
export function archiveAllScript(workId: string, name: string, live: boolean): string {
  const n = archiveName(name);
  return `${prelude(workId)}
rm -f "$W/${n}.tar.part"
rc=0
tar -cf "$W/${n}.tar.part" . || rc=$?
if [ "$rc" -ne 0 ] && { [ ${live ? 1 : 0} -eq 0 ] || [ "$rc" -ne 1 ]; }; then echo "tar of /data failed (exit $rc)" >&2; exit 70; fi
mv "$W/${n}.tar.part" "$W/${n}.tar"
${DESCRIBE(`$W/${n}.tar`)}`;
}

/** Tars the paths listed on stdin (one `./path` per line, after the first line) into `<name>.tar`. */
export function archiveListScript(workId: string, name: string): string {
  const n = archiveName(name);
  return `${prelude(workId)}
rm -f "$W/${n}.tar.part" "$W/${n}.list"
cat > "$W/${n}.list"
tar -cf "$W/${n}.tar.part" -T "$W/${n}.list"
mv "$W/${n}.tar.part" "$W/${n}.tar"
${DESCRIBE(`$W/${n}.tar`)}`;
}

/** Describes an archive already in the work directory (resume), or prints `missing`. */
export function describeArchiveScript(workId: string, name: string): string {
  const n = archiveName(name);
  return `${prelude(workId)}
if [ ! -f "$W/${n}.tar" ]; then echo missing; exit 0; fi
${DESCRIBE(`$W/${n}.tar`)}
if command -v md5sum >/dev/null 2>&1; then set -- $(md5sum < "$W/${n}.tar"); printf 'md5=%s\\n' "$1"; fi`;
}

/** PUTs `<name>.tar` to the presigned URL on stdin's first line (curl -f; retries transient errors). */
export function uploadScript(workId: string, name: string): string {
  const n = archiveName(name);
  return `${prelude(workId)}
IFS= read -r CFG
test -f "$W/${n}.tar" || { echo "the archive $W/${n}.tar is gone" >&2; exit 71; }
printf '%s\\n' "$CFG" | curl -fsS --retry 2 -K - -T "$W/${n}.tar" -o /dev/null`;
}

/**
 * Downloads `<name>.tar` from the presigned URL on stdin's first line and checks its sha256
 * (exit 65 on a mismatch, the file removed). Then either replaces all of /data with it
 * (`replace`), or deletes the paths listed on the rest of stdin and extracts it over /data.
 */
export function restoreScript(workId: string, name: string, sha256: string, mode: "replace" | "apply", manifestAfter = false): string {
  const n = archiveName(name);
  if (!SHA_RE.test(sha256)) throw new Error("internal: bad sha256");
  const apply = mode === "replace"
    ? `find . -mindepth 1 -maxdepth 1 -exec rm -rf {} +`
    : `while IFS= read -r p; do case "$p" in ./?*) rm -rf -- "$p" ;; esac; done`;
  return `${prelude(workId)}
IFS= read -r CFG
rm -f "$W/${n}.tar"
printf '%s\\n' "$CFG" | curl -fsS --retry 2 -K - -o "$W/${n}.tar"
set -- $(sha256sum < "$W/${n}.tar")
if [ "$1" != "${sha256}" ]; then rm -f "$W/${n}.tar"; echo "archive ${n}.tar arrived with sha256 $1, expected ${sha256}: corrupted in transfer" >&2; exit 65; fi
${apply}
tar -xf "$W/${n}.tar"
rm -f "$W/${n}.tar"${manifestAfter ? `
${MANIFEST_BODY}` : ""}`;
}

/**
 * The per-file manifest of /data: one line per entry, sorted by path:
 * `f <size> <sha256> <path>`, `d - - <path>`, `l - <sha256 of the link target> <path>`,
 * `o - - <path>` (anything else). Exit 66 when a name holds a newline (it could not be listed).
 */
export function manifestScript(workId: string): string {
  return `${prelude(workId)}
${MANIFEST_BODY}`;
}

/** Bytes under /data (`du -sb`; busybox du has no -b, so KiB there). */
export function dataSizeScript(): string {
  return `set -eu
D="\${AUTOMNA_DATA:-/data}"
if b=$(du -sb "$D" 2>/dev/null); then set -- $b; echo "$1"; else set -- $(du -sk "$D"); echo $(($1 * 1024)); fi`;
}

/** Removes the operation's work directory (archives kept for a resumed upload). */
export function cleanupScript(workId: string): string {
  return `${prelude(workId)}
cd /
rm -rf "$W"`;
}

/** Parses `key=value` lines. */
export function parseKv(text: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const line of text.split("\n")) {
    const i = line.indexOf("=");
    if (i > 0) out[line.slice(0, i).trim()] = line.slice(i + 1).trim();
  }
  return out;
}
