import { join } from "node:path";
import type { Context } from "../context.js";
import { ConfigError } from "../lib/errors.js";
import { profileDataDir, profileName } from "../lib/paths.js";
import { loadCatalog } from "./catalog.js";
import type { Catalog, Rates } from "./types.js";

/**
 * Where `pricing refresh` keeps live prices, used in preference to the shipped catalog: the
 * profile's own file, so prices read from a sandbox never price the real fleet.
 */
export function livePricesPath(ctx: Pick<Context, "env" | "globals">): string {
  return join(profileDataDir(ctx.env, profileName(ctx.globals.profile, ctx.env)), "prices.json");
}

/** The shipped catalog with any refreshed live prices (of this profile) laid over it. */
export function catalogFor(ctx: Context): Catalog {
  return loadCatalog({ overlayPath: livePricesPath(ctx) });
}

/** Conversion rates from config `pricing.eurUsd` (env AUTOMNA_EUR_USD). */
export async function ratesFor(ctx: Context): Promise<Rates> {
  const config = await ctx.config();
  const eurUsd = config.getNumber("pricing.eurUsd");
  if (eurUsd === undefined || !Number.isFinite(eurUsd) || eurUsd <= 0) {
    throw new ConfigError(`pricing.eurUsd must be a positive number, got "${String(config.get("pricing.eurUsd"))}"`, {
      hint: "automna config set pricing.eurUsd 1.08   (or set AUTOMNA_EUR_USD)",
    });
  }
  return { eurUsd };
}
