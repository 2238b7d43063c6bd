import { UsageError, ProviderApiError } from "../lib/errors.js";
import type { ProviderInfo } from "../providers/catalog.js";
import type { ProviderRegistry } from "../providers/index.js";
import type { Instance } from "../state/types.js";

/**
 * The placement policy of a profile (`placement` config, a list): where new users go when
 * provision runs with `--provider auto`. Each entry is `provider:region[:size][:max=N]`; a user
 * goes to the first entry with room (or the cheapest with `--placement cheapest`). Room is what
 * state knows (live instances there against `max`) and what the provider says: an entry whose
 * provider refuses for its account limit is full for the rest of the run.
 */
export interface PlacementEntry {
  provider: ProviderInfo;
  region: string;
  size: string;
  max: number | undefined;
  /** `hetzner:fsn1`, as the entry is named in messages and in state. */
  label: string;
}

export function parsePlacement(list: string[], registry: ProviderRegistry): PlacementEntry[] {
  return list.map((raw) => {
    const parts = raw.split(":");
    const maxPart = parts.at(-1)?.startsWith("max=") ? parts.pop()! : undefined;
    const [name, region, size, extra] = parts;
    if (!name || !region || extra !== undefined) throw new UsageError(`placement entry "${raw}" must look like provider:region[:size][:max=N]`, { hint: "automna config set placement hetzner:fsn1:cx22:max=900,hetzner:nbg1,fly:ams" });
    const max = maxPart === undefined ? undefined : Number(maxPart.slice(4));
    if (max !== undefined && (!Number.isInteger(max) || max < 0)) throw new UsageError(`placement entry "${raw}": max must be a whole number`);
    const provider = registry.resolve(name);
    return { provider, region, size: size || provider.defaultSize, max, label: `${provider.id}:${region}` };
  });
}

/** Whether a create was refused because the provider account is at its limit (room, not a mistake). */
export function isLimitRefusal(error: unknown): boolean {
  if (!(error instanceof ProviderApiError)) return false;
  return error.providerCode === "resource_limit_exceeded" || (error.status === 422 && /droplet limit/i.test(error.message));
}

/** Hands out room in the policy's entries, one user at a time (the counts start from state). */
export class Placer {
  readonly entries: PlacementEntry[];
  readonly #count: number[];
  readonly #full = new Map<number, string>();

  constructor(entries: PlacementEntry[], live: Instance[]) {
    this.entries = entries;
    this.#count = entries.map((e) => live.filter((i) => i.role === "live" && i.provider === e.provider.id && i.region === e.region).length);
  }

  /** The entry the next user goes to and why, or undefined when none has room. */
  take(): { index: number; why: string } | undefined {
    const skipped: string[] = [];
    for (const [index, e] of this.entries.entries()) {
      const full = this.#full.get(index);
      if (full) {
        skipped.push(`${e.label} full (${full})`);
        continue;
      }
      if (e.max !== undefined && this.#count[index]! >= e.max) {
        skipped.push(`${e.label} at its max ${e.max}`);
        continue;
      }
      this.#count[index]!++;
      return { index, why: skipped.length ? `placement entry ${index + 1}: ${skipped.join(", ")}` : `placement entry ${index + 1} (first with room)` };
    }
    return undefined;
  }

  /** The provider refused for its limit: the entry is full for the rest of the run. */
  full(index: number, reason: string): void {
    this.#count[index]!--;
    this.#full.set(index, reason);
  }

  /** A slot taken but not used (the create failed for another reason). */
  release(index: number): void {
    this.#count[index]!--;
  }
}

/** Why the placement policy put an instance where it is (provision --provider auto), if it did. */
export function placedWhy(meta: Record<string, unknown>): string | null {
  const p = meta.placement as { entry?: unknown; why?: unknown } | undefined;
  return p && typeof p.entry === "string" ? `${p.entry}: ${String(p.why)}` : null;
}
