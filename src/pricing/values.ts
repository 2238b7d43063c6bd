import { UsageError } from "../lib/errors.js";
import { parseNumber } from "../lib/validate.js";

// Flag values and price formatting for pricing and cost-report, without the catalog: command
// registration (every start-up) needs these, the catalog only when a command runs.

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

/** `pro=29,team=79` into a price per name (label value). */
export function parseNamedPrices(flag: string, value: string): Record<string, number> {
  const prices: Record<string, number> = {};
  for (const part of value.split(",").map((s) => s.trim())) {
    const eq = part.indexOf("=");
    if (eq <= 0) throw new UsageError(`${flag} takes NAME=PRICE pairs separated by commas, like pro=29,team=79, got "${value}"`);
    prices[part.slice(0, eq).trim()] = positiveNumber(flag, part.slice(eq + 1).trim());
  }
  return prices;
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
