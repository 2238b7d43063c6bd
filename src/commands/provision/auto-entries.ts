import type { Context } from "../../context.js";
import { UsageError } from "../../lib/errors.js";
import type { PlacementEntry } from "../../fleet/placement.js";
import type { Rates } from "../../pricing/types.js";
import type { Provider } from "../../providers/types.js";
import type { ProvisionOptions } from "./index.js";
import { refuseUndeliverableSecrets } from "./secrets.js";

export interface PlacementChoice {
  /** The policy's entries this run may use, in the order users are placed. */
  entries: PlacementEntry[];
  providers: Map<string, Provider>;
  prices: Map<PlacementEntry, { monthly: number; currency: string }>;
  rates: Rates;
}

/**
 * The placement policy's entries for one `provision --provider auto` run: `--region` keeps the
 * entries in that region, `--size` replaces each entry's size (an entry whose provider has no such
 * size is an error naming it), each entry checked against its provider's offerings and priced;
 * `--placement cheapest` orders them by monthly price, EUR and USD compared at `pricing.eurUsd`.
 * With `--secret`, every entry's provider must take secrets (and a VM's, with --no-wait, cannot).
 */
export async function placementEntries(ctx: Context, opts: ProvisionOptions, image: string, order: "first" | "cheapest"): Promise<PlacementChoice> {
  const [config, registry] = await Promise.all([ctx.config(), ctx.providers()]);
  const [{ parsePlacement }, { catalogBilling, monthlyTotal, offerings, validatePlacement }, { ratesFor }, { convert }] = await Promise.all([
    import("../../fleet/placement.js"), import("../../providers/plan.js"), import("../../pricing/sources.js"), import("../../pricing/money.js"),
  ]);
  const policy = parsePlacement(config.getList("placement"), registry);
  if (policy.length === 0) throw new UsageError("--provider auto needs a placement policy", { hint: "automna config set placement hetzner:fsn1:max=900,hetzner:nbg1,fly:ams" });
  let entries = opts.region ? policy.filter((e) => e.region === opts.region) : policy;
  if (entries.length === 0) throw new UsageError(`no placement entry is in region "${opts.region}"`, { hint: `the policy's entries: ${policy.map((e) => e.label).join(", ")}` });
  if (opts.size) entries = entries.map((e) => ({ ...e, size: opts.size! }));
  const providers = new Map<string, Provider>();
  const prices = new Map<PlacementEntry, { monthly: number; currency: string }>();
  for (const e of entries) {
    const provider = providers.get(e.provider.id) ?? await registry.get(e.provider.id);
    providers.set(e.provider.id, provider);
    refuseUndeliverableSecrets(provider, opts, e.label);
    const hasToken = config.secret(e.provider.tokenKey) !== undefined;
    try {
      validatePlacement({ provider: e.provider, region: e.region, size: e.size, image }, await offerings(provider, hasToken || !opts.dryRun));
    } catch (error) {
      if (!opts.size || !(error instanceof UsageError)) throw error;
      throw new UsageError(`--size ${opts.size} applies to every placement entry, and entry ${e.label} cannot take it: ${error.message}`, { hint: "keep to one provider's entries with --region, or leave --size to the policy" });
    }
    const billing = hasToken ? await provider.billing(e.size, e.region) : await catalogBilling(e.provider, e.size, config);
    prices.set(e, { monthly: monthlyTotal(billing), currency: billing[0]?.currency ?? "USD" });
  }
  const rates = await ratesFor(ctx);
  if (order === "cheapest") {
    // In one currency (USD; an unknown currency is refused, never compared as if it were dollars). Stable: equal prices keep the policy's order.
    const usd = new Map(entries.map((e) => [e, convert(prices.get(e)!.monthly, prices.get(e)!.currency, "USD", rates)]));
    entries = [...entries].sort((a, b) => usd.get(a)! - usd.get(b)!);
  }
  return { entries, providers, prices, rates };
}
