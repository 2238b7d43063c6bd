import type { Context } from "../../context.js";
import { AutomnaError, UsageError } from "../../lib/errors.js";
import { loadCatalog } from "../../pricing/catalog.js";
import { liveEntries, writeLiveBlocks, type LiveBlock } from "../../pricing/live.js";
import { livePricesPath } from "../../pricing/sources.js";

export interface RefreshedProvider {
  provider: string;
  plans: number;
  fetchedAt: string;
}

export interface PricingRefreshResult {
  /** Where the live prices are kept (used in preference to the shipped catalog). */
  path: string;
  refreshed: RefreshedProvider[];
  /** Providers not refreshed, and why (no token, no price API). */
  skipped: { provider: string; reason: string }[];
  /** Providers whose API failed. */
  failed: { provider: string; error: string }[];
}

/**
 * Reads live sizes and prices from every provider that has a token and publishes prices
 * (Hetzner: GET /server_types and GET /pricing; DigitalOcean: GET /v2/sizes) through the provider
 * registry, and saves them with their date next to the state. The shipped catalog stays as it is;
 * the live file wins for the providers it covers.
 */
export async function runPricingRefresh(ctx: Context, opts: { provider?: string | undefined }): Promise<PricingRefreshResult> {
  const registry = await ctx.providers();
  const wanted = opts.provider === undefined ? registry.all() : [...new Set(opts.provider.split(",").map((s) => s.trim()).filter(Boolean))].map((p) => registry.resolve(p));
  const configured = new Set(registry.configured().map((p) => p.id));
  const shipped = loadCatalog();
  const path = livePricesPath(ctx);
  const result: PricingRefreshResult = { path, refreshed: [], skipped: [], failed: [] };
  const updates: Record<string, LiveBlock> = {};
  let task: ReturnType<typeof ctx.io.task> | undefined;
  for (const info of wanted) {
    if (!configured.has(info.id)) {
      result.skipped.push({ provider: info.id, reason: `no token (set ${info.tokenEnv})` });
      continue;
    }
    const provider = await registry.get(info.id);
    const unsupported = provider.capabilities.livePrices;
    if (unsupported) {
      result.skipped.push({ provider: info.id, reason: unsupported });
      continue;
    }
    const text = `reading ${info.title} sizes and prices`;
    if (task) task.update(text);
    else task = ctx.io.task(text);
    try {
      const sizes = await provider.sizes();
      // The public IPv4 price comes with an instance's billing (Hetzner: GET /pricing).
      const probe = sizes.find((s) => s.source === "live");
      const ipv4 = probe ? (await provider.billing(probe.name, probe.regions[0] ?? "")).find((b) => b.kind === "ipv4" && b.source === "live") : undefined;
      const fetchedAt = ctx.clock.now().toISOString();
      const entries = liveEntries(info.id, sizes, shipped, fetchedAt, `${info.title} API, read ${fetchedAt}`, ipv4?.monthlyPrice ?? undefined);
      if (entries.length === 0) {
        result.failed.push({ provider: info.id, error: "the API listed no sizes with prices" });
        continue;
      }
      updates[info.id] = { fetchedAt, entries };
      result.refreshed.push({ provider: info.id, plans: entries.length, fetchedAt });
    } catch (error) {
      if (!(error instanceof AutomnaError)) throw error;
      result.failed.push({ provider: info.id, error: error.message });
      if (wanted.length === 1) {
        task?.stop();
        throw error;
      }
    }
  }
  task?.stop();
  if (Object.keys(updates).length) writeLiveBlocks(path, updates);
  if (result.refreshed.length === 0 && result.failed.length === 0) {
    const tokens = wanted.filter((p) => !configured.has(p.id)).map((p) => p.tokenEnv);
    throw new UsageError("no provider to refresh prices from", {
      hint: tokens.length ? `set ${tokens.join(" or ")} (providers without a price API keep the catalog's prices)` : "none of these providers publishes prices",
    });
  }
  return result;
}
