import { join } from "node:path";
import type { Context } from "../../context.js";
import { ConfigError, UsageError } from "../../lib/errors.js";
import { automnaDataDir } from "../../lib/paths.js";
import { parseNumber } from "../../lib/validate.js";
import { loadCatalog } from "../../pricing/catalog.js";
import type { Catalog, Rates } from "../../pricing/types.js";

/** Where `pricing refresh` keeps live prices: used in preference to the shipped catalog. */
export function livePricesPath(env: NodeJS.ProcessEnv): string {
  return join(automnaDataDir(env), "prices.json");
}

/** The shipped catalog with any refreshed live prices laid over it. */
export function catalogFor(ctx: Context): Catalog {
  return loadCatalog({ overlayPath: livePricesPath(ctx.env) });
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

/** A strictly positive number flag (`--ram 2`, `--min-vcpu 0.5`). */
export function positiveNumber(flag: string, value: string): number {
  const n = parseNumber(flag, value, 0);
  if (n <= 0) throw new UsageError(`${flag} must be more than 0, got "${value}"`);
  return n;
}

/** `29,79` into positive prices. */
export function parsePriceList(flag: string, value: string): number[] {
  const parts = value.split(",").map((s) => s.trim());
  if (parts.length === 0 || parts.some((p) => p === "")) throw new UsageError(`${flag} takes prices separated by commas, like 29,79, got "${value}"`);
  return parts.map((p) => positiveNumber(flag, p));
}

/** Prices for tables and CSV: cents for monthly figures, enough digits for hourly ones. */
export function fixedPrice(value: number | null | undefined, digits: number): string | null {
  if (value === null || value === undefined) return null;
  return value.toFixed(digits);
}

export function hourlyPrice(value: number): string {
  const text = value.toFixed(6).replace(/0+$/, "");
  const [, decimals = ""] = text.split(".");
  return decimals.length < 4 ? value.toFixed(4) : text;
}
