import type { IO } from "./io.js";
import { UsageError } from "./errors.js";
import { terminalText } from "./terminal-text.js";
import { parseInteger } from "./validate.js";
import { toYaml } from "./yaml.js";

export const OUTPUT_FORMATS = ["table", "json", "yaml", "ndjson", "csv"] as const;
export type OutputFormat = (typeof OUTPUT_FORMATS)[number];

/** A column of a list: declared once, used by every format. */
export interface Column<T> {
  /** The name used by `--columns` and as the CSV header. */
  name: string;
  /** The table header (defaults to the name upper-cased). */
  header?: string;
  value(row: T): string | number | boolean | null | undefined;
  /** Shown only when asked for with --columns. */
  optional?: boolean;
  align?: "left" | "right";
}

/** One `--sort` key: a column name, descending when written `-name`. */
export interface SortKey {
  name: string;
  descending: boolean;
}

export interface ListOptions {
  format: OutputFormat;
  columns?: string[] | undefined;
  noHeader?: boolean | undefined;
  sort?: SortKey[] | undefined;
  limit?: number | undefined;
}

/** Parses `-o`/`--output`, with `--json` meaning `-o json`. */
export function resolveFormat(output: string | undefined, json: boolean, allowed: readonly OutputFormat[] = OUTPUT_FORMATS): OutputFormat {
  if (output === undefined) return json ? "json" : "table";
  if (!(allowed as readonly string[]).includes(output)) {
    throw new UsageError(`unknown output format "${output}"`, { hint: `use one of: ${allowed.join(", ")}` });
  }
  return output as OutputFormat;
}

/** Parses `--columns a,b` against the declared columns, naming the valid ones on error. */
export function selectColumns<T>(all: Column<T>[], requested: string[] | undefined): Column<T>[] {
  if (!requested || requested.length === 0) return all.filter((c) => !c.optional);
  return requested.map((name) => {
    const column = all.find((c) => c.name === name);
    if (!column) throw new UsageError(`unknown column "${name}"`, { hint: `columns: ${all.map((c) => c.name).join(", ")}` });
    return column;
  });
}

export function parseColumnList(value: string): string[] {
  return value.split(",").map((s) => s.trim()).filter(Boolean);
}

/** `--sort user,-monthly`: ascending by user, then descending by monthly. */
export function parseSort(value: string): SortKey[] {
  const keys = parseColumnList(value).map((k) => (k.startsWith("-") ? { name: k.slice(1), descending: true } : { name: k, descending: false }));
  if (keys.length === 0 || keys.some((k) => k.name === "")) throw new UsageError(`--sort needs column names, got "${value}"`, { hint: "e.g. --sort provider,-monthly" });
  return keys;
}

// Made on first use: building an ICU collator costs ~10 ms, and most runs never sort.
let collator: Intl.Collator | undefined;

/** The number in a shown amount ("-$1,234.50" is -1234.5); the text itself when it holds none. */
function amount(value: string | number | boolean | null | undefined): string | number | boolean | null | undefined {
  if (typeof value !== "string") return value;
  const match = /(-?)[^\d-]*([\d,]*\.?\d+)/.exec(value);
  return match ? Number(`${match[1]}${match[2]!.replace(/,/g, "")}`) : value;
}

/**
 * Sorts by the `--sort` keys (each a column, its sortValue or shown value), stably, with missing
 * values last whichever the direction; then keeps the first `--limit` rows.
 */
export function sortAndLimit<T>(rows: T[], all: Column<T>[], sort: SortKey[] | undefined, limit: number | undefined): T[] {
  let result = rows;
  if (sort?.length) {
    const keys = sort.map((k) => {
      const column = all.find((c) => c.name === k.name);
      if (!column) throw new UsageError(`cannot sort by "${k.name}": no such column`, { hint: `columns: ${all.map((c) => c.name).join(", ")}` });
      // Right-aligned columns hold amounts shown with units ("$1,234.50", "4.29 EUR", "12.5%"): by the number.
      const numeric = column.align === "right";
      return { read: (row: T) => (numeric ? amount(column.value(row)) : column.value(row)), sign: k.descending ? -1 : 1 };
    });
    const compare = (a: unknown, b: unknown): number => {
      if (typeof a === "number" && typeof b === "number") return a - b;
      collator ??= new Intl.Collator("en", { numeric: true });
      return collator.compare(String(a), String(b));
    };
    result = rows
      .map((row) => ({ row, values: keys.map((k) => k.read(row)) }))
      .sort((x, y) => {
        for (const [i, k] of keys.entries()) {
          const a = x.values[i];
          const b = y.values[i];
          const aMissing = a === null || a === undefined || a === "";
          const bMissing = b === null || b === undefined || b === "";
          if (aMissing || bMissing) {
            if (aMissing !== bMissing) return aMissing ? 1 : -1;
            continue;
          }
          const order = compare(a, b) * k.sign;
          if (order !== 0) return order;
        }
        return 0;
      })
      .map((x) => x.row);
  }
  return limit === undefined ? result : result.slice(0, limit);
}

/** A table cell or detail value: one line, no control sequences (values come from providers and agents). */
function cell(value: string | number | boolean | null | undefined): string {
  if (value === null || value === undefined) return "-";
  return typeof value === "string" ? terminalText(value, { oneLine: true }) : String(value);
}

/** RFC 4180 quoting; control sequences removed (line breaks are quoted, as CSV allows). */
export function csvField(value: string | number | boolean | null | undefined): string {
  if (value === null || value === undefined) return "";
  const text = typeof value === "string" ? terminalText(value) : String(value);
  return /[",\r\n]/.test(text) ? `"${text.replace(/"/g, '""')}"` : text;
}

/** Visible width, ignoring ANSI colour codes. */
function visibleLength(text: string): number {
  // Most cells carry no colour: skip the regex for them (it dominates 10,000-row tables).
  // eslint-disable-next-line no-control-regex
  return text.includes("\x1b") ? text.replace(/\x1b\[[0-9;]*m/g, "").length : text.length;
}

/** A borderless, aligned table in the style of hcloud and kubectl. */
export function formatTable(headers: string[] | null, rows: string[][], align: ("left" | "right")[] = []): string[] {
  const all = headers ? [headers, ...rows] : rows;
  const widths: number[] = [];
  for (const row of all) row.forEach((c, i) => (widths[i] = Math.max(widths[i] ?? 0, visibleLength(c))));
  return all.map((row) =>
    row
      .map((c, i) => {
        const pad = " ".repeat((widths[i] ?? 0) - visibleLength(c));
        if (align[i] === "right") return pad + c;
        return i === row.length - 1 ? c : c + pad;
      })
      .join("   ")
      .trimEnd(),
  );
}

/**
 * Renders a list in the chosen format. JSON and NDJSON print `jsonRow(row)` (our documented
 * shape, all fields); table and CSV print the selected columns.
 */
export function renderList<T>(io: IO, all: T[], columns: Column<T>[], options: ListOptions, jsonRow: (row: T) => unknown = (r) => r): void {
  const selected = selectColumns(columns, options.columns);
  const rows = sortAndLimit(all, columns, options.sort, options.limit);
  switch (options.format) {
    case "json":
      io.json(rows.map(jsonRow));
      return;
    case "yaml":
      io.write(toYaml(rows.map(jsonRow)));
      return;
    case "ndjson":
      for (const row of rows) io.ndjson(jsonRow(row));
      return;
    case "csv": {
      const lines: string[] = [];
      if (!options.noHeader) lines.push(selected.map((c) => csvField(c.name)).join(","));
      for (const row of rows) lines.push(selected.map((c) => csvField(c.value(row))).join(","));
      if (lines.length) io.write(`${lines.join("\r\n")}\r\n`);
      return;
    }
    case "table": {
      // Large lists are written in one go: one write per row costs more than the formatting.
      const lines = tableLines(rows, selected, options.noHeader);
      if (lines.length) io.write(`${lines.join("\n")}\n`);
      return;
    }
  }
}

/** A list's table as lines (for renderList, and the frames of --watch). */
export function tableLines<T>(rows: T[], selected: Column<T>[], noHeader?: boolean): string[] {
  const headers = noHeader ? null : selected.map((c) => c.header ?? c.name.toUpperCase());
  const body = rows.map((row) => selected.map((c) => cell(c.value(row))));
  return formatTable(headers, body, selected.map((c) => c.align ?? "left"));
}

/** A byte count as MiB with one decimal (`12.3 MiB`), as data sizes are shown everywhere. */
export function mib(bytes: number): string {
  return `${(bytes / 1048576).toFixed(1)} MiB`;
}

/**
 * One document (status, version, a command's result): JSON or YAML of `doc` (NDJSON: on one
 * line), else the human view `table` draws. Formats that need rows (csv) are refused by
 * resolveFormat before the command runs, as each command lists only the formats it can print.
 */
export function renderDocument(io: IO, format: OutputFormat, doc: unknown, table: () => void): void {
  if (format === "json") io.json(doc);
  else if (format === "yaml") io.write(toYaml(doc));
  else if (format === "ndjson") io.ndjson(doc);
  else table();
}

/** The formats of a command that prints one document. */
export const DOCUMENT_FORMATS: readonly OutputFormat[] = ["table", "json", "yaml"];

/** Declares `-o/--output` on a command that prints one document or a result table. */
export function addOutputFlag<C extends { option(flags: string, description: string): C }>(command: C, formats: readonly OutputFormat[] = DOCUMENT_FORMATS): C {
  return command.option("-o, --output <format>", formats.join(", "));
}

/** Key/value detail view (status and similar). */
export function renderDetails(io: IO, pairs: [string, string | number | null | undefined][]): void {
  for (const line of detailLines(pairs)) io.out(line);
}

export function detailLines(pairs: [string, string | number | null | undefined][]): string[] {
  const width = Math.max(...pairs.map(([k]) => k.length));
  return pairs.map(([key, value]) => `${`${key}:`.padEnd(width + 2)}${cell(value)}`);
}

/** The output flags every list command takes. */
export interface ListFlags {
  output?: string;
  columns?: string;
  /** false for `--no-header`. */
  header: boolean;
  sort?: string;
  limit?: string;
}

/**
 * Declares `-o/--output`, `--columns` and `--no-header` on a list command, so every list offers
 * the same flags with the same words (hcloud's list commands share one definition the same way).
 */
export function addListFlags<C extends { option(flags: string, description: string): C }>(
  command: C,
  columns: { name: string }[] | string,
  formats: readonly OutputFormat[] = OUTPUT_FORMATS,
  limit = "at most N rows (after --sort)",
): C {
  const names = typeof columns === "string" ? columns : `columns: ${columns.map((c) => c.name).join(",")}`;
  return command
    .option("-o, --output <format>", formats.join(", "))
    .option("--columns <list>", names)
    .option("--no-header", "omit the header row")
    .option("--sort <fields>", "sort by these columns, comma-separated; -name for descending")
    .option("--limit <n>", limit);
}

/** Turns the list flags (and global --json) into render options. */
export function listOptionsFrom(flags: ListFlags, json: boolean, formats: readonly OutputFormat[] = OUTPUT_FORMATS): ListOptions {
  return {
    format: resolveFormat(flags.output, json, formats),
    columns: flags.columns ? parseColumnList(flags.columns) : undefined,
    noHeader: !flags.header,
    sort: flags.sort === undefined ? undefined : parseSort(flags.sort),
    limit: flags.limit === undefined ? undefined : parseInteger("--limit", flags.limit, 1),
  };
}
