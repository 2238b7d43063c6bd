/**
 * YAML for `-o yaml`: block style, the data JSON output holds (objects, arrays, strings,
 * numbers, booleans, null) and nothing else. A string that could read back as anything but
 * itself (a number, a boolean, null, a key, a comment, leading or trailing blanks, a line break)
 * is written double-quoted with JSON's escapes, which YAML's double-quoted scalars accept
 * unchanged; every other string is written plain. That is all automna's output needs, so it
 * costs no runtime dependency (the tests read every document back with a full YAML parser).
 */
export function toYaml(value: unknown): string {
  const lines: string[] = [];
  emit(value, 0, lines);
  return `${lines.join("\n")}\n`;
}

// Plain scalars that YAML 1.1 or 1.2 readers take for something other than a string.
const RESERVED = /^(?:~|null|true|false|yes|no|on|off|y|n|\.nan|[-+]?\.inf|[-+]?(?:0x[0-9a-f]+|0o?[0-7]+|[0-9][0-9_:.]*(?:e[-+]?[0-9]+)?|\.[0-9]+(?:e[-+]?[0-9]+)?))$/i;
// Safe to write plain: starts with a letter, underscore, slash or dot (a leading digit may read
// back as a number or a timestamp: quoted) and holds no indicator that could start a mapping,
// comment, alias, tag or flow collection.
const PLAIN = /^[A-Za-z_/.][^:#\n\r\t"'{}[\],&*!|>%@`\\]*$/;

function scalar(value: unknown): string {
  if (value === null || value === undefined) return "null";
  if (typeof value === "number") return Number.isFinite(value) ? String(value) : "null";
  if (typeof value === "boolean") return String(value);
  const text = String(value);
  if (text === "" || RESERVED.test(text) || !PLAIN.test(text) || text !== text.trim()) return JSON.stringify(text);
  return text;
}

function isCollection(value: unknown): value is object {
  return typeof value === "object" && value !== null && (!Array.isArray(value) || value.length > 0) && (Array.isArray(value) || Object.keys(value).length > 0);
}

function key(name: string): string {
  return scalar(name);
}

function emit(value: unknown, indent: number, lines: string[]): void {
  const pad = " ".repeat(indent);
  if (Array.isArray(value)) {
    if (value.length === 0) return void lines.push(`${pad}[]`);
    for (const item of value) {
      if (!isCollection(item)) {
        lines.push(`${pad}- ${emptyOrScalar(item)}`);
        continue;
      }
      // The first line of a nested block goes after the dash; the rest keep its indent.
      const nested: string[] = [];
      emit(item, indent + 2, nested);
      lines.push(`${pad}- ${nested[0]!.slice(indent + 2)}`, ...nested.slice(1));
    }
    return;
  }
  if (typeof value === "object" && value !== null) {
    const entries = Object.entries(value).filter(([, v]) => v !== undefined);
    if (entries.length === 0) return void lines.push(`${pad}{}`);
    for (const [k, v] of entries) {
      if (isCollection(v)) {
        lines.push(`${pad}${key(k)}:`);
        emit(v, Array.isArray(v) ? indent : indent + 2, lines);
      } else lines.push(`${pad}${key(k)}: ${emptyOrScalar(v)}`);
    }
    return;
  }
  lines.push(`${pad}${scalar(value)}`);
}

function emptyOrScalar(value: unknown): string {
  if (Array.isArray(value)) return "[]";
  if (typeof value === "object" && value !== null) return "{}";
  return scalar(value);
}
