import type { IO } from "./io.js";
import { UsageError } from "./errors.js";
import { terminalText } from "./terminal-text.js";

export const OUTPUT_FORMATS = ["table", "json", "ndjson", "csv"] as const;
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

export interface ListOptions {
  format: OutputFormat;
  columns?: string[] | undefined;
  noHeader?: boolean | undefined;
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
export function renderList<T>(io: IO, rows: T[], columns: Column<T>[], options: ListOptions, jsonRow: (row: T) => unknown = (r) => r): void {
  const selected = selectColumns(columns, options.columns);
  switch (options.format) {
    case "json":
      io.json(rows.map(jsonRow));
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
      const headers = options.noHeader ? null : selected.map((c) => c.header ?? c.name.toUpperCase());
      const body = rows.map((row) => selected.map((c) => cell(c.value(row))));
      // Large lists are written in one go: one write per row costs more than the formatting.
      const lines = formatTable(headers, body, selected.map((c) => c.align ?? "left"));
      if (lines.length) io.write(`${lines.join("\n")}\n`);
      return;
    }
  }
}

/** A byte count as MiB with one decimal (`12.3 MiB`), as data sizes are shown everywhere. */
export function mib(bytes: number): string {
  return `${(bytes / 1048576).toFixed(1)} MiB`;
}

/** Key/value detail view (status and similar). */
export function renderDetails(io: IO, pairs: [string, string | number | null | undefined][]): void {
  const width = Math.max(...pairs.map(([k]) => k.length));
  for (const [key, value] of pairs) io.out(`${`${key}:`.padEnd(width + 2)}${cell(value)}`);
}

/** The output flags every list command takes. */
export interface ListFlags {
  output?: string;
  columns?: string;
  /** false for `--no-header`. */
  header: boolean;
}

/**
 * Declares `-o/--output`, `--columns` and `--no-header` on a list command, so every list offers
 * the same flags with the same words (hcloud's list commands share one definition the same way).
 */
export function addListFlags<C extends { option(flags: string, description: string): C }>(
  command: C,
  columns: { name: string }[] | string,
  formats: readonly OutputFormat[] = OUTPUT_FORMATS,
): C {
  const names = typeof columns === "string" ? columns : `columns: ${columns.map((c) => c.name).join(",")}`;
  return command
    .option("-o, --output <format>", formats.join(", "))
    .option("--columns <list>", names)
    .option("--no-header", "omit the header row");
}

/** Turns the list flags (and global --json) into render options. */
export function listOptionsFrom(flags: ListFlags, json: boolean, formats: readonly OutputFormat[] = OUTPUT_FORMATS): ListOptions {
  return { format: resolveFormat(flags.output, json, formats), columns: flags.columns ? parseColumnList(flags.columns) : undefined, noHeader: !flags.header };
}
