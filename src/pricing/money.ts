import { AutomnaError, UsageError } from "../lib/errors.js";
import { CURRENCIES, type Currency, type Rates } from "./types.js";

export function isCurrency(value: string): value is Currency {
  return (CURRENCIES as readonly string[]).includes(value);
}

/** Parses `--currency`, case-insensitively. */
export function parseCurrency(flag: string, value: string): Currency {
  const upper = value.trim().toUpperCase();
  if (!isCurrency(upper)) throw new UsageError(`${flag} must be one of ${CURRENCIES.join(", ")}, got "${value}"`);
  return upper;
}

/** The rate that turns one unit of `from` into `to`. */
export function rate(from: string, to: Currency, rates: Rates): number {
  if (from === to) return 1;
  if (from === "EUR" && to === "USD") return rates.eurUsd;
  if (from === "USD" && to === "EUR") return 1 / rates.eurUsd;
  // Usage intervals are written by provider code; a currency we cannot convert must not be
  // silently summed as if it were dollars.
  throw new AutomnaError(`cannot convert ${from} to ${to}: automna knows ${CURRENCIES.join(" and ")}`, {
    code: "currency",
    hint: "the usage record or price entry carries a currency automna has no rate for",
  });
}

export function convert(amount: number, from: string, to: Currency, rates: Rates): number {
  return amount * rate(from, to, rates);
}

/** Rounds money for documents (JSON/CSV): sub-cent precision matters for hourly prices. */
export function roundMoney(value: number, digits = 4): number {
  const f = 10 ** digits;
  return Math.round(value * f) / f;
}

const SYMBOL: Record<Currency, string> = { USD: "$", EUR: "€" };

/** `$4.09`, `€3.79`; negative amounts as `-$1.20`. */
export function formatMoney(value: number, currency: Currency, digits = 2): string {
  const sign = value < 0 ? "-" : "";
  // An amount that would show as 0.00 but is not (hours of a small server): four decimals, so
  // amounts of different sizes never look the same.
  if (value !== 0 && Math.abs(value) < 0.005) digits = Math.max(digits, 4);
  return `${sign}${SYMBOL[currency]}${Math.abs(value).toFixed(digits)}`;
}
