import { existsSync, readFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { closest } from "../lib/config-keys.js";
import { AutomnaError, UsageError } from "../lib/errors.js";
import { AVAILABILITIES, BILLING_MODELS, CURRENCIES, type Catalog, type CatalogEntry } from "./types.js";

export const CATALOG_FILE = "price-catalog.json";

/** Other names operators use for catalog providers (`do` is also the provider registry's alias). */
const ALIASES: Record<string, string> = { do: "digitalocean", fargate: "aws-fargate", cloudflare: "cloudflare-sandbox", cloudrun: "cloud-run" };

/**
 * The shipped catalog's path. The package ships `data/` next to `dist/`; from src/pricing (tests,
 * tsx) it is two levels up, from dist/src/pricing three, so walk up rather than hard-code either.
 */
export function shippedCatalogPath(): string {
  let dir = dirname(fileURLToPath(import.meta.url));
  for (let i = 0; i < 5; i++) {
    const candidate = join(dir, "data", CATALOG_FILE);
    if (existsSync(candidate)) return candidate;
    dir = dirname(dir);
  }
  throw new AutomnaError(`the price catalog (data/${CATALOG_FILE}) is missing from this automna installation`, { code: "catalog_missing" });
}

type Json = Record<string, unknown>;

function invalid(path: string, where: string, problem: string): AutomnaError {
  return new AutomnaError(`price catalog ${path} is invalid: ${where}: ${problem}`, { code: "catalog_invalid" });
}

const DATE_RE = /^\d{4}-\d{2}-\d{2}$/;

/** Checks one entry field by field, so a bad edit names the entry and the field. */
export function validateEntry(raw: unknown, path: string, where: string): CatalogEntry {
  if (typeof raw !== "object" || raw === null || Array.isArray(raw)) throw invalid(path, where, "not an object");
  const e = raw as Json;
  const label = typeof e.provider === "string" && typeof e.plan === "string" ? `${where} (${e.provider} ${e.plan})` : where;
  const str = (k: string): string => {
    if (typeof e[k] !== "string" || e[k] === "") throw invalid(path, label, `${k} must be a non-empty string`);
    return e[k] as string;
  };
  const num = (k: string, min = 0, obj: Json = e): number => {
    const v = obj[k];
    if (typeof v !== "number" || !Number.isFinite(v) || v < min) throw invalid(path, label, `${k} must be a number of at least ${min}`);
    return v;
  };
  const oneOf = <T extends string>(k: string, allowed: readonly T[]): T => {
    const v = str(k);
    if (!(allowed as readonly string[]).includes(v)) throw invalid(path, label, `${k} must be one of ${allowed.join(", ")}`);
    return v as T;
  };
  const extras = e.extras;
  if (typeof extras !== "object" || extras === null) throw invalid(path, label, "extras must be an object");
  const nullableNum = (k: string): number | null => ((extras as Json)[k] === null ? null : num(k, 0, extras as Json));
  const positive = (k: string): number => {
    const v = num(k);
    if (v === 0) throw invalid(path, label, `${k} must be more than 0`);
    return v;
  };
  const asOf = str("asOf");
  if (!DATE_RE.test(asOf)) throw invalid(path, label, "asOf must be a date YYYY-MM-DD");
  if (e.note !== undefined && typeof e.note !== "string") throw invalid(path, label, "note must be a string");
  const entry: CatalogEntry = {
    provider: str("provider"),
    plan: str("plan"),
    vcpu: positive("vcpu"),
    cpuKind: oneOf("cpuKind", ["shared", "dedicated"] as const),
    ramGb: positive("ramGb"),
    diskGb: num("diskGb"),
    monthlyPrice: num("monthlyPrice"),
    hourlyPrice: num("hourlyPrice"),
    currency: oneOf("currency", CURRENCIES),
    billing: oneOf("billing", BILLING_MODELS),
    availability: oneOf("availability", AVAILABILITIES),
    includedTrafficGb: num("includedTrafficGb"),
    extras: { ipv4Monthly: nullableNum("ipv4Monthly"), volumeGbMonthly: nullableNum("volumeGbMonthly"), egressGb: nullableNum("egressGb") },
    source: str("source"),
    asOf,
  };
  if (typeof e.note === "string") entry.note = e.note;
  if (e.live === true) entry.live = true;
  return entry;
}

function readJson(path: string): Json {
  let text: string;
  try {
    text = readFileSync(path, "utf8");
  } catch (error) {
    throw new AutomnaError(`cannot read price catalog ${path}: ${(error as Error).message}`, { code: "catalog_unreadable" });
  }
  try {
    const value: unknown = JSON.parse(text);
    if (typeof value !== "object" || value === null || Array.isArray(value)) throw new Error("not a JSON object");
    return value as Json;
  } catch (error) {
    throw invalid(path, "file", (error as Error).message);
  }
}

/** Parses a catalog document (the shipped file's shape). */
export function parseCatalog(doc: Json, path: string): Catalog {
  if (doc.schema !== 1) throw invalid(path, "schema", "expected 1");
  if (typeof doc.asOf !== "string" || !DATE_RE.test(doc.asOf)) throw invalid(path, "asOf", "must be a date YYYY-MM-DD");
  if (!Array.isArray(doc.entries) || doc.entries.length === 0) throw invalid(path, "entries", "must be a non-empty array");
  const entries = doc.entries.map((raw, i) => validateEntry(raw, path, `entry ${i + 1}`));
  const seen = new Set<string>();
  for (const e of entries) {
    const key = `${e.provider}/${e.plan}`;
    if (seen.has(key)) throw invalid(path, key, "listed twice");
    seen.add(key);
  }
  return { asOf: doc.asOf, entries, sources: [path] };
}

/**
 * Live prices saved by `pricing refresh`: `{schema: 1, providers: {<id>: {fetchedAt, entries}}}`.
 * Each provider present replaces that provider's shipped entries wholesale, so a plan the
 * provider no longer sells disappears instead of lingering at an old price.
 */
function applyOverlay(catalog: Catalog, path: string): Catalog {
  const doc = readJson(path);
  const providers = doc.providers;
  if (doc.schema !== 1 || typeof providers !== "object" || providers === null) throw invalid(path, "file", "expected {schema: 1, providers: {...}}");
  let entries = catalog.entries;
  for (const [provider, block] of Object.entries(providers as Json)) {
    const list = (block as Json | null)?.entries;
    if (!Array.isArray(list) || list.length === 0) throw invalid(path, provider, "entries must be a non-empty array");
    const fresh = list.map((raw, i) => ({ ...validateEntry(raw, path, `${provider} entry ${i + 1}`), live: true }));
    if (fresh.some((e) => e.provider !== provider)) throw invalid(path, provider, "an entry names another provider");
    const at = entries.findIndex((e) => e.provider === provider);
    const rest = entries.filter((e) => e.provider !== provider);
    // Keep the provider where the shipped catalog lists it, so output order stays stable.
    entries = at === -1 ? [...rest, ...fresh] : [...rest.slice(0, at), ...fresh, ...rest.slice(at)];
  }
  return { ...catalog, entries, sources: [...catalog.sources, path] };
}

export interface LoadCatalogOptions {
  /** The shipped catalog (default: data/price-catalog.json of this installation). */
  path?: string;
  /** Refreshed live prices, used in preference for the providers they cover (skipped if absent). */
  overlayPath?: string;
}

export function loadCatalog(options: LoadCatalogOptions = {}): Catalog {
  const path = options.path ?? shippedCatalogPath();
  const catalog = parseCatalog(readJson(path), path);
  return options.overlayPath && existsSync(options.overlayPath) ? applyOverlay(catalog, options.overlayPath) : catalog;
}

/** Catalog providers in catalog order. */
export function catalogProviders(catalog: Catalog): string[] {
  return [...new Set(catalog.entries.map((e) => e.provider))];
}

/** Resolves a provider name or alias against the catalog; unknown names are bad input. */
export function resolveCatalogProvider(catalog: Catalog, name: string, flag = "--provider"): string {
  const providers = catalogProviders(catalog);
  const id = ALIASES[name.toLowerCase()] ?? name.toLowerCase();
  if (providers.includes(id)) return id;
  const near = closest(name, [...providers, ...Object.keys(ALIASES)]);
  throw new UsageError(`${flag}: unknown provider "${name}"`, {
    hint: `${near.length ? `did you mean ${ALIASES[near[0]!] ?? near[0]}? ` : ""}providers: ${providers.join(", ")}`,
  });
}

/** Parses a comma-separated provider list. */
export function parseProviderList(catalog: Catalog, value: string, flag = "--provider"): string[] {
  const names = value.split(",").map((s) => s.trim()).filter(Boolean);
  if (names.length === 0) throw new UsageError(`${flag} needs at least one provider`);
  return [...new Set(names.map((n) => resolveCatalogProvider(catalog, n, flag)))];
}

/** The entry for a provider's size as the state store records it (`cx22`, `s-1vcpu-2gb`). */
export function findPlan(catalog: Catalog, provider: string, size: string): CatalogEntry | undefined {
  const id = ALIASES[provider] ?? provider;
  const plan = size.toLowerCase();
  return catalog.entries.find((e) => e.provider === id && e.plan.toLowerCase() === plan);
}
