import { existsSync, mkdirSync, readFileSync, renameSync, writeFileSync } from "node:fs";
import { dirname } from "node:path";
import type { SizeInfo } from "../providers/types.js";
import { isCurrency } from "./money.js";
import type { Catalog, CatalogEntry } from "./types.js";

/** One provider's block in the live prices file. */
export interface LiveBlock {
  fetchedAt: string;
  entries: CatalogEntry[];
}

/**
 * Turns a provider's live sizes into catalog entries. The API gives size, vCPUs, memory, disk and
 * price; what it does not (billing model, whether it stays on, traffic, extras, CPU kind) comes
 * from the shipped entry of the same plan, else from the provider's shipped entries.
 */
export function liveEntries(provider: string, sizes: SizeInfo[], shipped: Catalog, fetchedAt: string, source: string, ipv4Monthly?: number): CatalogEntry[] {
  const own = shipped.entries.filter((e) => e.provider === provider);
  const fallback = own[0];
  const out: CatalogEntry[] = [];
  for (const s of sizes) {
    if (s.source !== "live" || !isCurrency(s.currency) || !(s.memoryMb > 0) || !(s.vcpus > 0)) continue;
    const known = own.find((e) => e.plan === s.name) ?? fallback;
    const entry: CatalogEntry = {
      provider,
      plan: s.name,
      vcpu: s.vcpus,
      cpuKind: known?.cpuKind ?? "shared",
      ramGb: s.memoryMb / 1024,
      diskGb: s.diskGb ?? 0,
      monthlyPrice: s.monthlyPrice,
      hourlyPrice: s.hourlyPrice,
      currency: s.currency,
      billing: known?.billing ?? "monthly-cap",
      availability: known?.availability ?? "always-on",
      includedTrafficGb: known?.includedTrafficGb ?? 0,
      extras: { ...(known?.extras ?? { ipv4Monthly: null, volumeGbMonthly: null, egressGb: null }), ...(ipv4Monthly === undefined ? {} : { ipv4Monthly }) },
      source,
      asOf: fetchedAt.slice(0, 10),
      live: true,
    };
    if (!own.some((e) => e.plan === s.name)) entry.note = "Live from the provider's API; not in the shipped catalog, so CPU kind, traffic and extras are the provider's usual ones.";
    out.push(entry);
  }
  return out;
}

/** Reads the live prices file's provider blocks (none when absent). */
export function readLiveBlocks(path: string): Record<string, LiveBlock> {
  if (!existsSync(path)) return {};
  const doc = JSON.parse(readFileSync(path, "utf8")) as { schema?: unknown; providers?: Record<string, LiveBlock> };
  return doc.schema === 1 && doc.providers && typeof doc.providers === "object" ? doc.providers : {};
}

/**
 * Saves refreshed providers, keeping the other providers' earlier live prices. Written to a
 * temporary file and renamed, so a reader never sees half a file.
 */
export function writeLiveBlocks(path: string, updates: Record<string, LiveBlock>): void {
  let current: Record<string, LiveBlock> = {};
  try {
    current = readLiveBlocks(path);
  } catch {
    // An unreadable earlier file is replaced by what was just fetched.
  }
  mkdirSync(dirname(path), { recursive: true, mode: 0o700 });
  const tmp = `${path}.${process.pid}.tmp`;
  writeFileSync(tmp, `${JSON.stringify({ schema: 1, providers: { ...current, ...updates } }, null, 2)}\n`);
  renameSync(tmp, path);
}
