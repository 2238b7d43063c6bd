/**
 * Hetzner labels and label selectors, per the API's "Labels" and "Label Selector" sections:
 * keys are an optional DNS-subdomain prefix plus `/` and a name of at most 63 characters,
 * alphanumeric at both ends with `-_.` inside; values the same or empty; `hetzner.cloud/` is
 * reserved. Selectors are comma-joined `k=v`, `k==v`, `k!=v`, `k`, `!k`, `k in (..)`,
 * `k notin (..)`.
 */

const NAME = /^[a-zA-Z0-9](?:[a-zA-Z0-9._-]{0,61}[a-zA-Z0-9])?$/;
const DNS_LABEL = /^[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?$/;

export function validLabelKey(key: string): boolean {
  const slash = key.lastIndexOf("/");
  const name = slash === -1 ? key : key.slice(slash + 1);
  if (!NAME.test(name)) return false;
  if (slash === -1) return true;
  const prefix = key.slice(0, slash);
  if (prefix.length === 0 || prefix.length > 253 || prefix === "hetzner.cloud" || prefix.endsWith(".hetzner.cloud")) return false;
  return prefix.split(".").every((part) => DNS_LABEL.test(part));
}

export function validLabelValue(value: string): boolean {
  return value === "" || NAME.test(value);
}

/** The first problem with a label map, as Hetzner words field messages; null when valid. */
export function labelProblem(labels: Record<string, string>): string | null {
  for (const [key, value] of Object.entries(labels)) {
    if (!validLabelKey(key)) return `label key '${key}' is invalid`;
    if (!validLabelValue(value)) return `label value '${value}' of key '${key}' is invalid`;
  }
  return null;
}

type Term =
  | { op: "eq" | "ne"; key: string; value: string }
  | { op: "exists" | "absent"; key: string }
  | { op: "in" | "notin"; key: string; values: Set<string> };

export type Selector = (labels: Record<string, string>) => boolean;

/** Splits on commas outside parentheses. */
function splitTerms(text: string): string[] | null {
  const terms: string[] = [];
  let depth = 0;
  let current = "";
  for (const ch of text) {
    if (ch === "(") depth++;
    if (ch === ")") depth--;
    if (depth < 0) return null;
    if (ch === "," && depth === 0) {
      terms.push(current);
      current = "";
    } else current += ch;
  }
  if (depth !== 0) return null;
  terms.push(current);
  return terms.map((t) => t.trim());
}

function parseTerm(text: string): Term | null {
  let m = /^!\s*(\S+)$/.exec(text);
  if (m) return validLabelKey(m[1]!) ? { op: "absent", key: m[1]! } : null;
  m = /^(\S+?)\s+(in|notin)\s*\(([^()]*)\)$/.exec(text);
  if (m) {
    const values = m[3]!.split(",").map((v) => v.trim());
    if (!validLabelKey(m[1]!) || !values.every(validLabelValue)) return null;
    return { op: m[2] === "in" ? "in" : "notin", key: m[1]!, values: new Set(values) };
  }
  m = /^([^=!\s]+)\s*(==|=|!=)\s*(\S*)$/.exec(text);
  if (m) {
    if (!validLabelKey(m[1]!) || !validLabelValue(m[3]!)) return null;
    return { op: m[2] === "!=" ? "ne" : "eq", key: m[1]!, value: m[3]! };
  }
  return validLabelKey(text) ? { op: "exists", key: text } : null;
}

/** Compiles a selector; null when it does not parse. */
export function parseLabelSelector(text: string): Selector | null {
  const parts = splitTerms(text);
  if (!parts || parts.some((p) => p === "")) return null;
  const terms: Term[] = [];
  for (const part of parts) {
    const term = parseTerm(part);
    if (!term) return null;
    terms.push(term);
  }
  return (labels) => terms.every((term) => {
    const has = Object.hasOwn(labels, term.key);
    const value = labels[term.key];
    switch (term.op) {
      case "eq": return has && value === term.value;
      case "ne": return !has || value !== term.value;
      case "exists": return has;
      case "absent": return !has;
      case "in": return has && term.values.has(value!);
      case "notin": return !has || !term.values.has(value!);
    }
  });
}
