import { createHash } from "node:crypto";

/** One entry of a /data manifest (see manifestScript). */
export interface ManifestEntry {
  type: "f" | "d" | "l" | "o";
  path: string;
  /** Regular files only. */
  size: number | null;
  /** Regular files: content; links: target. */
  sha256: string | null;
}

export interface Manifest {
  entries: Map<string, ManifestEntry>;
  /** sha256 of the manifest text: two equal manifests have equal digests. */
  digest: string;
  files: number;
  bytes: number;
}

const LINE_RE = /^([fdlo]) (\d+|-) ([0-9a-f]{64}|-) (\.\/.+)$/;

export function parseManifest(text: string): Manifest {
  const entries = new Map<string, ManifestEntry>();
  let files = 0;
  let bytes = 0;
  const lines = text.split("\n").filter((l) => l !== "");
  for (const line of lines) {
    const m = LINE_RE.exec(line);
    if (!m) throw new Error(`unreadable manifest line: ${line.slice(0, 120)}`);
    const type = m[1] as ManifestEntry["type"];
    const size = m[2] === "-" ? null : Number(m[2]);
    entries.set(m[4]!, { type, path: m[4]!, size, sha256: m[3] === "-" ? null : m[3]! });
    if (type === "f") {
      files++;
      bytes += size ?? 0;
    }
  }
  return { entries, digest: createHash("sha256").update(lines.join("\n")).digest("hex"), files, bytes };
}

function same(a: ManifestEntry, b: ManifestEntry): boolean {
  return a.type === b.type && a.size === b.size && a.sha256 === b.sha256;
}

/** Where two manifests differ, for an error message (at most `limit` paths). */
export function manifestDifferences(want: Manifest, have: Manifest, limit = 5): string[] {
  const out: string[] = [];
  for (const [path, w] of want.entries) {
    const h = have.entries.get(path);
    if (!h) out.push(`${path} missing`);
    else if (!same(w, h)) out.push(`${path} differs (${h.type} ${h.size ?? "-"} bytes, expected ${w.type} ${w.size ?? "-"})`);
    if (out.length >= limit) return out;
  }
  for (const path of have.entries.keys()) {
    if (!want.entries.has(path)) out.push(`${path} should not be there`);
    if (out.length >= limit) return out;
  }
  return out;
}

/**
 * What turns the target's /data (`have`) into the source's (`want`): the paths to archive on the
 * source (new or changed; a listed directory brings its whole subtree, so nothing below it is
 * listed again) and the paths to delete on the target first (gone at the source, or changed type).
 */
export function manifestDelta(want: Manifest, have: Manifest): { copy: string[]; remove: string[] } {
  const remove: string[] = [];
  for (const [path, h] of have.entries) {
    const w = want.entries.get(path);
    if (!w || w.type !== h.type) remove.push(path);
  }
  const copy: string[] = [];
  const copiedDirs = new Set<string>();
  for (const [path, w] of want.entries) {
    if (underAny(path, copiedDirs)) continue;
    const h = have.entries.get(path);
    if (h && same(w, h)) continue;
    if (w.type === "d" && h?.type === "d") continue;
    copy.push(path);
    if (w.type === "d") copiedDirs.add(path);
  }
  // A directory added after its children were listed still brings them: drop those.
  return { copy: copy.filter((p) => !underAny(p, copiedDirs)), remove: pruneNested(remove) };
}

function underAny(path: string, dirs: ReadonlySet<string>): boolean {
  for (let i = path.lastIndexOf("/"); i > 1; i = path.lastIndexOf("/", i - 1)) {
    if (dirs.has(path.slice(0, i))) return true;
  }
  return false;
}

/** Drops paths below another listed path (removing the parent removes them). */
function pruneNested(paths: string[]): string[] {
  const all = new Set(paths);
  return paths.filter((p) => !underAny(p, all));
}
