import { NotSupportedError, UsageError } from "../lib/errors.js";
import { isUserId, USER_RULE } from "../lib/validate.js";
import { providerInfo, providerNames } from "../providers/catalog.js";
import type { ProviderRegistry } from "../providers/index.js";
import type { Provider, ProviderImport } from "../providers/types.js";
import type { MappingRow, RowProblem } from "./import-mapping.js";

/** One user to take over: the resource at a provider that is theirs. */
export interface ImportEntry {
  user: string;
  provider: Provider & { importer: ProviderImport };
  /** The provider's id (what ProviderImport.lookup takes). */
  id: string;
  data?: string | undefined;
  /** The mapping row it came from; null for `--match`. */
  line: number | null;
  /** The resource's name at the provider, when known before the lookup (`--match`). */
  name?: string;
}

/** The provider, when automna can import from it. */
async function importingProvider(registry: ProviderRegistry, id: string): Promise<ImportEntry["provider"]> {
  const provider = await registry.get(id);
  if (!provider.importer) throw new NotSupportedError(`automna cannot import from ${provider.title} yet`);
  return provider as ImportEntry["provider"];
}

/**
 * Checks every row against what automna knows (user id rule, provider, the provider's id format,
 * data location) and the rows against each other (a user or a resource named twice). Rows that
 * pass become entries; the others are problems, named with their line.
 */
export async function entriesFromRows(registry: ProviderRegistry, rows: MappingRow[]): Promise<{ entries: ImportEntry[]; problems: RowProblem[] }> {
  const entries: ImportEntry[] = [];
  const problems: RowProblem[] = [];
  const users = new Map<string, number>();
  const resources = new Map<string, number>();
  for (const row of rows) {
    const wrong: string[] = [];
    if (!row.user) wrong.push("no user id");
    else if (!isUserId(row.user)) wrong.push(`invalid user id "${row.user}": ${USER_RULE}`);
    else if (users.has(row.user)) wrong.push(`user ${row.user} is already mapped on line ${users.get(row.user)}`);
    const info = row.provider ? providerInfo(row.provider.toLowerCase()) : undefined;
    let provider: ImportEntry["provider"] | undefined;
    if (!row.provider) wrong.push("no provider");
    else if (!info) wrong.push(`unknown provider "${row.provider}" (${providerNames().join(", ")})`);
    else {
      try {
        provider = await importingProvider(registry, info.id);
      } catch (error) {
        if (!(error instanceof NotSupportedError)) throw error;
        wrong.push(error.message);
      }
    }
    if (!row.id) wrong.push(`no ${provider?.importer.idLabel ?? "provider id"}`);
    else if (provider) {
      const idProblem = provider.importer.checkId(row.id);
      if (idProblem) wrong.push(idProblem);
      const key = `${provider.id}:${row.id}`;
      if (resources.has(key)) wrong.push(`${provider.title} ${provider.importer.idLabel} ${row.id} is already mapped on line ${resources.get(key)}`);
      else resources.set(key, row.line);
      const dataProblem = row.data && provider.importer.checkData ? provider.importer.checkData(row.user, row.data) : undefined;
      if (dataProblem) wrong.push(`data location ${row.data}: ${dataProblem}`);
      else if (row.data && !provider.importer.checkData && !provider.importer.dataLocations.includes(row.data.replace(/(.)\/+$/, "$1"))) {
        wrong.push(`data location ${row.data}: automna reads a ${provider.title} agent's data at ${provider.importer.dataLocations.join(" (or ")}${provider.importer.dataLocations.length > 1 ? ")" : ""}; move it there first, or leave the column empty`);
      }
    }
    if (row.user && !users.has(row.user)) users.set(row.user, row.line);
    if (wrong.length) problems.push({ line: row.line, message: wrong.join("; ") });
    else entries.push({ user: row.user, provider: provider!, id: row.id, data: row.data, line: row.line });
  }
  return { entries, problems };
}

/** `--match`'s pattern as a regular expression: literal text around one `{user}`. */
export function matchPattern(pattern: string): RegExp {
  const parts = pattern.split("{user}");
  if (parts.length !== 2) throw new UsageError(`--match must contain {user} exactly once, got "${pattern}"`, { hint: "e.g. --match 'agent-{user}' takes the server agent-alice over as user alice" });
  const escape = (s: string): string => s.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");
  return new RegExp(`^${escape(parts[0]!)}([a-z0-9](?:[a-z0-9-]{0,39}[a-z0-9])?)${escape(parts[1]!)}$`);
}

/**
 * The users a `--match` pattern finds among every resource of the provider: a name that matches
 * gives the user id. A user whose name matches several resources is ambiguous (not imported).
 */
export async function entriesFromMatch(registry: ProviderRegistry, providerId: string, pattern: string): Promise<{ entries: ImportEntry[]; ambiguous: { user: string; ids: string[] }[] }> {
  const re = matchPattern(pattern);
  const provider = await importingProvider(registry, providerId);
  const found = new Map<string, { id: string; name: string }[]>();
  for (const c of await provider.importer.listAll()) {
    const user = re.exec(c.name)?.[1];
    if (user && isUserId(user)) found.set(user, [...(found.get(user) ?? []), { id: c.id, name: c.name }]);
  }
  const entries: ImportEntry[] = [];
  const ambiguous: { user: string; ids: string[] }[] = [];
  for (const [user, list] of [...found].sort(([a], [b]) => a.localeCompare(b))) {
    if (list.length === 1) entries.push({ user, provider, id: list[0]!.id, line: null, name: list[0]!.name });
    else ambiguous.push({ user, ids: list.map((l) => l.id) });
  }
  return { entries, ambiguous };
}
