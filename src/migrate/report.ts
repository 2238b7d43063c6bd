import { createHash } from "node:crypto";
import { AutomnaError } from "../lib/errors.js";

/**
 * What a data-path script printed (scripts.ts): `key=value` lines, `diff=<text>` lines (up to five
 * differences between two listings), `part <n> <etag>` lines (parts of an archive sent), then
 * sections: a `--- <name>` line and the lines under it.
 */
export interface Report {
  kv: Record<string, string>;
  diffs: string[];
  parts: Map<number, string>;
  sections: Record<string, string[]>;
}

export function parseReport(text: string): Report {
  const out: Report = { kv: {}, diffs: [], parts: new Map(), sections: {} };
  let section: string[] | undefined;
  for (const line of text.split("\n")) {
    const head = /^--- ([a-z]+)$/.exec(line);
    if (head) {
      section = out.sections[head[1]!] = [];
      continue;
    }
    if (section) {
      if (line !== "") section.push(line);
      continue;
    }
    const part = /^part (\d+) (\S+)$/.exec(line);
    if (part) out.parts.set(Number(part[1]), part[2]!);
    else if (line.startsWith("diff=")) out.diffs.push(line.slice(5));
    else {
      const i = line.indexOf("=");
      if (i > 0) out.kv[line.slice(0, i)] = line.slice(i + 1);
    }
  }
  return out;
}

/** A whole number the script printed, or an error naming what the host said instead. */
export function reportNumber(r: Report, key: string, what: string): number {
  const n = Number(r.kv[key]);
  if (r.kv[key] === undefined || !Number.isSafeInteger(n)) throw new AutomnaError(`${what}: the host's answer has no ${key} (${JSON.stringify(r.kv).slice(0, 200)})`, { code: "remote_failed" });
  return n;
}

/** A sha256 the script printed. */
export function reportSha(r: Report, key: string, what: string): string {
  const v = r.kv[key] ?? "";
  if (!/^[0-9a-f]{64}$/.test(v)) throw new AutomnaError(`${what}: the host's answer has no ${key} (${JSON.stringify(r.kv).slice(0, 200)})`, { code: "remote_failed" });
  return v;
}

/** `<hex> *<path>` / `<hex>  <path>` lines (sha256sum, openssl -r) as path -> sha256; sha256sum's `\` escaping undone. */
export function hashLines(lines: readonly string[]): Map<string, string> {
  const out = new Map<string, string>();
  for (let line of lines) {
    const escaped = line.startsWith("\\");
    if (escaped) line = line.slice(1);
    const hex = line.slice(0, 64);
    if (!/^[0-9a-f]{64}$/.test(hex)) throw new AutomnaError(`unreadable checksum line from a host: ${line.slice(0, 120)}`, { code: "remote_failed" });
    let path = line.slice(66);
    if (escaped) path = path.replace(/\\(\\|n)/g, (_m, c: string) => (c === "n" ? "\n" : "\\"));
    out.set(path, hex);
  }
  return out;
}

/**
 * The digest of a canonical listing (shell.ts): its lines sorted bytewise, each ending in a
 * newline. Lines are latin1 strings (one char per byte, as runScript gives them with `latin1`).
 */
export function listingDigest(lines: readonly string[]): string {
  const sorted = lines.map((l) => Buffer.from(l, "latin1")).sort(Buffer.compare);
  const hash = createHash("sha256");
  for (const line of sorted) hash.update(line).update("\n");
  return hash.digest("hex");
}

/** A path or message from a latin1 report, as the UTF-8 it most likely is, for people to read. */
export function readable(text: string): string {
  return Buffer.from(text, "latin1").toString("utf8");
}
