import { UsageError } from "../lib/errors.js";

/**
 * One row of an import mapping, as written: which user the resource at the provider belongs to.
 * `line` is where the row starts in the file, for error messages.
 */
export interface MappingRow {
  line: number;
  user: string;
  provider: string;
  /** The provider's id of the server, droplet or app. */
  id: string;
  /** Where the agent keeps its data there, when the row says. */
  data?: string;
}

/** A row that cannot be used, and why. */
export interface RowProblem {
  line: number;
  message: string;
}

const FIELDS = ["user", "provider", "id", "data"] as const;
type Field = (typeof FIELDS)[number];
/** Other names a column or JSON key may have for a field. */
const ALIASES: Record<string, Field> = {
  user: "user", user_id: "user", provider: "provider", id: "id", resource: "id", resource_id: "id", server: "id", droplet: "id", app: "id",
  data: "data", data_location: "data", datalocation: "data", "data-location": "data",
};
const COLUMNS_HINT = "a mapping has the columns user,provider,id[,data] (CSV, a header line optional) or is a JSON array of {user, provider, id, data?}";

/** A mapping file that cannot be read at all (not CSV, not a JSON array): exit 2, nothing imported. */
function malformed(source: string, what: string): UsageError {
  return new UsageError(`${source} is not a usable mapping: ${what}; nothing was imported`, { hint: COLUMNS_HINT });
}

/**
 * Reads a mapping (JSON when it starts with `[` or `{`, else CSV) into rows with their line
 * numbers, and the problems of rows that have the wrong shape. A file that is not a mapping at
 * all throws (UsageError, exit 2).
 */
export function parseMapping(text: string, source: string): { rows: MappingRow[]; problems: RowProblem[] } {
  const body = text.replace(/^\uFEFF/, "");
  return /^\s*[[{]/.test(body) ? parseJson(body, source) : parseCsv(body, source);
}

/** Splits one CSV line (RFC 4180 quoting, on one line); undefined when its quotes do not close. */
function csvCells(line: string): string[] | undefined {
  const cells: string[] = [];
  let cell = "";
  let quoted = false;
  for (let i = 0; i < line.length; i++) {
    const c = line[i]!;
    if (quoted) {
      if (c === '"' && line[i + 1] === '"') {
        cell += '"';
        i++;
      } else if (c === '"') quoted = false;
      else cell += c;
    } else if (c === '"' && cell.trim() === "") {
      quoted = true;
      cell = "";
    } else if (c === ",") {
      cells.push(cell.trim());
      cell = "";
    } else cell += c;
  }
  if (quoted) return undefined;
  cells.push(cell.trim());
  return cells;
}

function parseCsv(text: string, source: string): { rows: MappingRow[]; problems: RowProblem[] } {
  const rows: MappingRow[] = [];
  const problems: RowProblem[] = [];
  let columns: Field[] | undefined;
  const lines = text.split(/\r?\n/);
  for (let i = 0; i < lines.length; i++) {
    const raw = lines[i]!;
    if (raw.trim() === "" || raw.trim().startsWith("#")) continue;
    const line = i + 1;
    const cells = csvCells(raw);
    if (!cells) {
      problems.push({ line, message: "a quoted field is not closed on its line" });
      continue;
    }
    if (columns === undefined) {
      columns = [...FIELDS];
      // A header names its columns, among them user and provider (no data row has a provider called "provider").
      const named = cells.map((c) => ALIASES[c.toLowerCase()]);
      if (named.includes("user") && named.includes("provider")) {
        const unknown = cells.filter((_, k) => named[k] === undefined);
        if (unknown.length) throw malformed(source, `line ${line}: unknown column${unknown.length > 1 ? "s" : ""} ${unknown.map((u) => JSON.stringify(u)).join(", ")} in the header`);
        const missing = (["user", "provider", "id"] as const).filter((f) => !named.includes(f));
        if (missing.length) throw malformed(source, `line ${line}: the header has no ${missing.join(", ")} column`);
        if (new Set(named).size !== named.length) throw malformed(source, `line ${line}: the header names a column twice`);
        columns = named as Field[];
        continue;
      }
    }
    if (cells.length < 3 || cells.length > columns.length) {
      problems.push({ line, message: `${cells.length} field${cells.length === 1 ? "" : "s"}, expected ${columns.length === 3 ? "3" : "3 or 4"} (${columns.join(",")})` });
      continue;
    }
    const row: Record<string, string> = {};
    cells.forEach((c, k) => (row[columns![k]!] = c));
    rows.push({ line, user: row.user ?? "", provider: row.provider ?? "", id: row.id ?? "", ...(row.data ? { data: row.data } : {}) });
  }
  if (rows.length === 0 && problems.length === 0) throw malformed(source, "it has no rows");
  return { rows, problems };
}

/** Where each element of the top-level JSON array starts (its line), found by scanning the text. */
function elementLines(text: string): number[] {
  const lines: number[] = [];
  let line = 1;
  let depth = 0;
  let inString = false;
  let expectElement = false;
  for (let i = 0; i < text.length; i++) {
    const c = text[i]!;
    if (c === "\n") line++;
    if (inString) {
      if (c === "\\") i++;
      else if (c === '"') inString = false;
      continue;
    }
    if (/\s/.test(c)) continue;
    if (expectElement && c !== "]") {
      lines.push(line);
      expectElement = false;
    }
    if (c === '"') inString = true;
    else if (c === "[" || c === "{") {
      depth++;
      if (depth === 1 && c === "[") expectElement = true;
    } else if (c === "]" || c === "}") depth--;
    else if (c === "," && depth === 1) expectElement = true;
  }
  return lines;
}

function parseJson(text: string, source: string): { rows: MappingRow[]; problems: RowProblem[] } {
  let data: unknown;
  try {
    data = JSON.parse(text);
  } catch (error) {
    throw malformed(source, `invalid JSON (${(error as Error).message})`);
  }
  if (!Array.isArray(data)) throw malformed(source, "JSON must be an array of {user, provider, id, data?} objects");
  if (data.length === 0) throw malformed(source, "it has no rows");
  const lines = elementLines(text);
  const rows: MappingRow[] = [];
  const problems: RowProblem[] = [];
  data.forEach((item: unknown, k) => {
    const line = lines[k] ?? 1;
    if (typeof item !== "object" || item === null || Array.isArray(item)) {
      problems.push({ line, message: `entry ${k + 1} is not an object` });
      return;
    }
    const row: Record<string, string> = {};
    const wrong: string[] = [];
    for (const [key, value] of Object.entries(item)) {
      const field = ALIASES[key.toLowerCase()];
      if (!field) wrong.push(`unknown field "${key}"`);
      else if (typeof value === "string" || (field === "id" && typeof value === "number")) row[field] = String(value).trim();
      else if (!(field === "data" && value === null)) wrong.push(`${key} must be a string`);
    }
    if (wrong.length) problems.push({ line, message: `entry ${k + 1}: ${wrong.join(", ")}` });
    else rows.push({ line, user: row.user ?? "", provider: row.provider ?? "", id: row.id ?? "", ...(row.data ? { data: row.data } : {}) });
  });
  return { rows, problems };
}

/** The one error for a mapping with bad rows: each named with its line, nothing imported (exit 2). */
export function rowsError(source: string, problems: RowProblem[]): UsageError {
  const sorted = [...problems].sort((a, b) => a.line - b.line);
  const shown = sorted.slice(0, 20).map((p) => `  line ${p.line}: ${p.message}`);
  if (sorted.length > 20) shown.push(`  and ${sorted.length - 20} more`);
  return new UsageError(`${source} has ${sorted.length} bad row${sorted.length === 1 ? "" : "s"}; nothing was imported\n${shown.join("\n")}`, {
    code: "bad_mapping", hint: `fix ${sorted.length === 1 ? "it" : "them"} and run the import again; ${COLUMNS_HINT}`,
  });
}
