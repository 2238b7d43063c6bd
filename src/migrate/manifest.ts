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
    else if (!same(w, h)) out.push(h.type === w.type && h.size === w.size ? `${path} differs (sha256)` : `${path} differs (${h.type} ${h.size ?? "-"} bytes, expected ${w.type} ${w.size ?? "-"})`);
    if (out.length >= limit) return out;
  }
  for (const path of have.entries.keys()) {
    if (!want.entries.has(path)) out.push(`${path} should not be there`);
    if (out.length >= limit) return out;
  }
  return out;
}
