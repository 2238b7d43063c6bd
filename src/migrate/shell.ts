/**
 * Shell fragments the data path's scripts (scripts.ts) are built from. POSIX sh and POSIX awk
 * (mawk, busybox awk: no gawk extensions), GNU find and tar where the host has them with a
 * fallback where it does not. Every fragment reads and writes files in the operation's work
 * directory `$W` (outside /data, kept until the operation finishes) and runs in /data. Each
 * process a script starts costs the host a few milliseconds of CPU, and a migration runs a
 * handful of scripts per user: they start as few as they can (shell builtins over `cat`, one awk
 * pass where two would do).
 *
 * The stat listing of /data has one line per entry below /data:
 * `<type> <size> <mtime> <ctime> <inode> ./<path>` (GNU find's %y letters; mtime and ctime in
 * seconds, with nanoseconds where find prints them); a line `!` means a name holds a newline.
 * The canonical listing is what two hosts can compare: `<type> <size> ./<path>` with type f, d,
 * l or o and size "-" for directories and others (a directory's size is its filesystem's
 * business); its digest is taken over its lines sorted bytewise (listingDigest in report.ts, and
 * listing_sum on a host: the freeze sends the target the digest and the delta, not the listing).
 */

const WORK_ID_RE = /^[a-z]+_[a-z0-9]+$/;

/** `set -eu`, the work directory `$W`, `cd /data`, and the helpers below. */
export function prelude(workId: string): string {
  if (!WORK_ID_RE.test(workId)) throw new Error(`internal: bad work id ${workId}`);
  return [
    "set -eu",
    "umask 077",
    'D="${AUTOMNA_DATA:-/data}"',
    `W="\${HOME:-/root}/.automna/work/${workId}"`,
    '[ -d "$W" ] || mkdir -p "$W"',
    'cd "$D"',
    FUNCTIONS,
  ].join("\n");
}

/** The prefix of a stat listing line before its path (five fields). */
const STAT_PREFIX = "/^[^ ]+ [^ ]+ [^ ]+ [^ ]+ [^ ]+ /";
/** The prefix of a canonical listing line before its path (two fields). */
const CANON_PREFIX = "/^[^ ]+ [^ ]+ /";

/** awk: whether a parent directory of a path (`./a/b/c`: `./a`, `./a/b`) is in `set`. */
const UNDER_AWK = `function under(p, set,   n, parts, q, i) { n = split(p, parts, "/"); q = parts[1]; for (i = 2; i < n; i++) { q = q "/" parts[i]; if (q in set) return 1 } return 0 }`;

/**
 * awk: a stat listing line's path (after five single-space-separated fields: counted, which costs
 * less than a regular expression per line), and its canonical type and size.
 */
const STAT_AWK = `function path() { return substr($0, length($1) + length($2) + length($3) + length($4) + length($5) + 6) }
function ctype() { return ($1 == "f" || $1 == "d" || $1 == "l") ? $1 : "o" }
function csize(t) { return (t == "f" || t == "l") ? $2 : "-" }`;

/** awk: a name with a newline was found (the `!` line of list_only): exit 66 like bad_name. */
const BAD_NAME_AWK = `$0 == "!" { print "a file name in /data contains a newline; automna cannot move it safely" > "/dev/stderr"; exit 66 }`;

/**
 * awk: one line of `sha256sum` or `openssl dgst -r` output (`<hex> *<name>` or `<hex>  <name>`;
 * sha256sum escapes a name holding a backslash: a leading `\` and `\\` for each one).
 */
const HASHLINE_AWK = `function hashline(line,   esc, p) { esc = substr(line, 1, 1) == "\\\\"; if (esc) line = substr(line, 2); p = substr(line, 67); if (esc) gsub(/\\\\\\\\/, "\\\\", p); hashed[p] = substr(line, 1, 64) }`;

/**
 * awk over a host's stat listing: writes its canonical listing to `canon` and prints `files=` and
 * `dataBytes=`.
 */
export const CANON_AWK = `${STAT_AWK}
${BAD_NAME_AWK}
{ t = ctype(); print t " " csize(t) " " path() > canon; if ($1 == "f") { n++; s += $2 } }
END { printf "files=%d\\ndataBytes=%.0f\\n", n, s }`;

const FUNCTIONS = String.raw`nl='
'
# sha256 of stdin or of files: openssl where the host has it and the data is large (half the CPU
# of sha256sum per byte), sha256sum otherwise (openssl costs more to start).
HASH=sha256sum
hash_for() { if [ "$1" -ge 16777216 ] && command -v openssl >/dev/null 2>&1; then HASH="openssl dgst -sha256 -r"; else HASH=sha256sum; fi; }
bad_name() { echo "a file name in /data contains a newline; automna cannot move it safely" >&2; exit 66; }
# GNU find's stat listing of /data (see shell.ts) on stdout; when find fails, its status in $W/find.rc.
stat_lines() { rm -f "$W/find.rc"; find . -mindepth 1 \( -name "*$nl*" -printf '!\n' -quit \) -o -printf '%y %s %T@ %C@ %i %p\n' 2> "$W/find.err" || echo "$?" > "$W/find.rc"; }
# The stat listing of /data into $1: stat_lines, else find -exec stat (busybox find has no -printf).
list_only() {
  stat_lines > "$1"
  if [ -f "$W/find.rc" ]; then
    read -r e < "$W/find.err" || e=
    case "$e" in
      *printf*|*quit*|*nrecognized*|*nknown*)
        if [ -n "$(find . -name "*$nl*" | head -c 1)" ]; then bad_name; fi
        find . -mindepth 1 -exec stat -c '%f %s %Y %Z %i %n' {} + | awk '{ m = 0; h = tolower($1); for (i = 1; i <= length(h); i++) m = m * 16 + index("0123456789abcdef", substr(h, i, 1)) - 1; t = int(m / 4096) % 16; print (t == 8 ? "f" : t == 4 ? "d" : t == 10 ? "l" : "o") substr($0, length($1) + 1) }' > "$1" ;;
    esac
  fi
}
# list_only, then FILES and DBYTES (regular files, their bytes), kept in $1.stats.
list_data() {
  list_only "$1"
  awk '${BAD_NAME_AWK} $1 == "f" { n++; s += $2 } END { printf "%d %.0f\n", n, s }' "$1" > "$1.stats"
  read -r FILES DBYTES < "$1.stats"
}
# sha256 of the files named in $1 (one path per line): "<hex> *<path>" lines on stdout.
hash_files() { if [ -s "$1" ]; then tr '\n' '\0' < "$1" | xargs -0 $HASH; fi; }
# The digest of canonical listing $1 into $1.sum: its lines sorted bytewise (listingDigest in report.ts).
listing_sum() { LC_ALL=C sort "$1" | sha256sum > "$1.sum"; }
# The digest of /data's canonical listing into $1 (no times: a quick check): GNU find's lines
# sorted as they come, else list_only, awk and listing_sum (busybox find has no -printf).
canon_sum() {
  rm -f "$W/find.rc"
  { find . -mindepth 1 \( -name "*$nl*" -printf '!\n' -quit \) -o \( -type f -printf 'f %s %p\n' \) -o \( -type d -printf 'd - %p\n' \) -o \( -type l -printf 'l %s %p\n' \) -o -printf 'o - %p\n' 2> "$W/find.err" || echo "$?" > "$W/find.rc"; } | LC_ALL=C sort | sha256sum > "$1"
  if [ -f "$W/find.rc" ]; then
    list_only "$W/canon.stat"; awk -v canon="$W/canon" '${CANON_AWK}' "$W/canon.stat" > /dev/null; listing_sum "$W/canon"; mv "$W/canon.sum" "$1"
  fi
}
# Archives tar's arguments ($3...) as $W/$1.tar with its sha256 in $W/$1.sha (written last: the
# archive is complete). $2 = 1: the agent still writes, so tar's exit 1 (a file changed or went
# away while read) is expected; 0: frozen, nothing but success is.
archive() {
  a=$1; live=$2; shift 2
  rm -f "$W/$a.tar" "$W/$a.sha" "$W/$a.part" "$W/$a.tee" "$W/$a".e*
  { rc=0; tar -cf - "$@" || rc=$?; echo "$rc" > "$W/$a.rc"; } | { tee "$W/$a.part" || echo failed > "$W/$a.tee"; } | $HASH > "$W/$a.hash"
  read -r rc < "$W/$a.rc"
  if [ "$rc" -ne 0 ] && { [ "$live" -eq 0 ] || [ "$rc" -ne 1 ]; }; then echo "tar of /data failed (exit $rc)" >&2; exit 70; fi
  if [ -f "$W/$a.tee" ]; then echo "could not write the archive to $W (disk full?)" >&2; exit 70; fi
  mv "$W/$a.part" "$W/$a.tar"
  read -r sum _ < "$W/$a.hash"; echo "$sum" > "$W/$a.sha"
}
# Archives, frozen, the /data paths listed in $2 (one per line; $3 of them hold a backslash) as
# $W/$1.tar. tar -T where the host's tar has it (GNU tar unquotes -T names: --no-unquote), else
# (busybox's tar built without -T) the names as arguments, or all of /data when they would not
# fit on one command line: more bytes, the same result on the target. An empty list makes an
# archive of /data's own entry, as busybox's tar refuses an empty one.
archive_paths() {
  if tar -cf /dev/null -T /dev/null 2>/dev/null; then
    o=; if [ "$3" -gt 0 ]; then case "$(tar --version 2>/dev/null)" in *GNU*) o=--no-unquote ;; esac; fi
    archive "$1" 0 $o -T "$2"
  elif [ ! -s "$2" ]; then archive "$1" 0 --no-recursion .
  elif [ "$(wc -c < "$2")" -gt 131072 ]; then archive "$1" 0 .
  else
    a=$1; set -f; IFS=$nl; set -- $(cat "$2"); unset IFS; set +f
    archive "$a" 0 "$@"
  fi
}
# sha256=, bytes= of $W/$1.tar; SIZE = its bytes.
describe() { read -r sum < "$W/$1.sha"; SIZE=$(wc -c < "$W/$1.tar"); SIZE=$((SIZE)); printf 'sha256=%s\nbytes=%s\n' "$sum" "$SIZE"; }
# PUTs $W/$1.tar to the presigned URL in $CFG (a curl config line).
put_archive() { printf '%s\n' "$CFG" | curl -fsS --retry 2 -K - -T "$W/$1.tar" -o /dev/null; }
# The full manifest of /data from stat listing $1: "f <size> <sha256> <path>", "d - - <path>",
# "l - <sha256 of the link target> <path>", "o - - <path>", sorted by path (as backups made
# before have their manifests: a restore compares digests).
manifest() {
  awk '$1 == "f" { p = $0; sub(${STAT_PREFIX}, "", p); print p }' "$1" > "$W/m.files"
  hash_files "$W/m.files" > "$W/m.hash"
  awk '$1 == "l" { p = $0; sub(${STAT_PREFIX}, "", p); print p }' "$1" | while IFS= read -r f; do set -- $(readlink -- "$f" | sha256sum); printf '%s  %s\n' "$1" "$f"; done > "$W/m.links"
  awk -v links="$W/m.links" -v hashes="$W/m.hash" '${HASHLINE_AWK}
    FILENAME == hashes { hashline($0); next }
    FILENAME == links { lsha[substr($0, 67)] = substr($0, 1, 64); next }
    { p = $0; sub(${STAT_PREFIX}, "", p)
      if ($1 == "f") print "f " $2 " " hashed[p] " " p
      else if ($1 == "d") print "d - - " p
      else if ($1 == "l") print "l - " lsha[p] " " p
      else print "o - - " p }' "$W/m.hash" "$W/m.links" "$1" | LC_ALL=C sort -t ' ' -k 4
}
# The agent container's lifecycle on a VM (a provider that holds agents by API does it there).
agent() { n=0; until docker "$1" automna-agent >/dev/null; do n=$((n + 1)); [ "$n" -lt 3 ] || return 1; sleep 1; done; }`;

/**
 * awk over the warm stat listing and the frozen one (the quick check). Writes the paths to
 * archive to `tars` (a new directory once, its subtree with it), the regular files that changed
 * to `files`, the frozen canonical listing to `canon`, and to `removed` the warm listing's paths
 * the frozen one no longer has or has as another type (a removed directory once, its subtree not:
 * the warm listing is in find's order, parents first); prints `changed=`, `deltaBytes=` (of
 * those files), `backslashes=` (paths holding one, which GNU tar -T would unquote), `files=` and
 * `dataBytes=`. A path is copied when it is new, changed type, or its size, mtime, ctime or inode
 * differ; or when the warm listing saw it change less than 2 s before it was taken (`T`, the
 * host's clock): a write in the same clock tick leaves the times as they were, so such a file
 * cannot be trusted to be unchanged (git's "racily clean" entries). The warm listing is told apart
 * by its name, not by FNR == NR, which an empty one (an empty /data at the warm copy) would fool.
 */
export const QUICK_CHECK_AWK = `${UNDER_AWK}
${STAT_AWK}
FILENAME == ARGV[1] { p = path(); warm[p] = substr($0, 1, length($0) - length(p) - 1); order[++wn] = p; next }
${BAD_NAME_AWK}
{ p = path(); t = ctype(); print t " " csize(t) " " p > canon
  if ($1 == "f") { files_n++; data += $2 }
  same = 0
  if (p in warm) { w = warm[p]; if (index(w, $1 " ") == 1) { delete warm[p]; same = $1 == "d" || (w == substr($0, 1, length($0) - length(p) - 1) && $3 + 0 < T - 2 && $4 + 0 < T - 2) } }
  if (nd && under(p, dirs)) { if ($1 == "f") { print p > files; b += $2 } next }
  if (same) next
  print p > tars; n++; if (index(p, "\\\\")) bs++
  if ($1 == "d") { dirs[p] = 1; nd++ }
  if ($1 == "f") { print p > files; b += $2 } }
END { for (i = 1; i <= wn; i++) { p = order[i]; if ((p in warm) && !under(p, gone)) { print p > removed; gone[p] = 1 } }
  printf "changed=%d\\ndeltaBytes=%.0f\\nbackslashes=%d\\nfiles=%d\\ndataBytes=%.0f\\n", n, b, bs, files_n, data }`;

/**
 * awk over what the target must not keep and the target's stat listing: writes to `out` the
 * target's paths to remove (a removed directory once, its subtree not) and prints `removed=<n>`.
 * `listed` = 1: the first file is the source's canonical listing, and the paths it does not have,
 * or has as another type, go; 0: it names the paths that go (the quick check's `removed`), which
 * are removed only as the target's own listing has them, so a path is never followed through a
 * symbolic link the target holds where the source had a directory.
 */
export const EXTRAS_AWK = `${UNDER_AWK}
${STAT_AWK}
FILENAME == ARGV[1] { p = $0; if (listed) { sub(${CANON_PREFIX}, "", p); want[p] = $1 } else drop[p] = 1; next }
${BAD_NAME_AWK}
{ p = path(); t = ctype()
  if (nd && under(p, gone)) next
  if (listed ? (!(p in want) || want[p] != t) : (p in drop)) { print p > out; n++; if (t == "d") { gone[p] = 1; nd++ } } }
END { printf "removed=%d\\n", n }`;

/**
 * awk over a wanted canonical listing, optionally a file of paths (`only`), and a host's stat
 * listing: `diff=` lines naming up to five differences, then `differences=`, `files=`,
 * `dataBytes=` and `deltaBytes=` (the bytes of the files `only` names).
 */
export const COMPARE_AWK = `${STAT_AWK}
function out(s) { if (k++ < 5) print "diff=" s }
only != "" && FILENAME == only { c[$0] = 1; next }
FILENAME == wanted { p = $0; sub(${CANON_PREFIX}, "", p); want[p] = $1 " " $2; next }
${BAD_NAME_AWK}
{ p = path(); t = ctype(); v = t " " csize(t)
  if ($1 == "f") { files_n++; data += $2; if (p in c) b += $2 }
  if (!(p in want)) out(p " should not be there")
  else if (want[p] != v) out(p " differs (" v ", expected " want[p] ")")
  delete want[p] }
END { for (p in want) out(p " missing"); printf "differences=%d\\nfiles=%d\\ndataBytes=%.0f\\ndeltaBytes=%.0f\\n", k, files_n, data, b }`;

/** Single-quotes an awk program (or any text) for sh. */
export function quoted(text: string): string {
  return `'${text.replace(/'/g, `'\\''`)}'`;
}
