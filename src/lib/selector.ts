import { UsageError } from "./errors.js";
import { LABEL_KEY_RE, LABEL_VALUE_RE } from "./labels.js";
import type { Labels } from "../state/types.js";

/**
 * Label selectors in the grammar of Kubernetes and the Hetzner Cloud API, which operators already
 * type: requirements joined by commas, all of which must hold.
 *   key=value, key==value   the label is set to value
 *   key!=value              the label is absent or set to something else
 *   key in (a,b)            set to one of the values
 *   key notin (a,b)         absent or set to none of them
 *   key / !key              set (to anything) / absent
 */
export type Requirement =
  | { key: string; op: "in" | "notin"; values: string[] }
  | { key: string; op: "exists" | "absent" };

export interface Selector {
  text: string;
  requirements: Requirement[];
}

function bad(text: string, why: string): UsageError {
  return new UsageError(`-l "${text}": ${why}`, { hint: "selectors look like plan=pro,cohort!=beta or 'plan in (pro,team),!trial'" });
}

/** Splits at top-level commas: the commas inside `in (a,b)` belong to their requirement. */
function splitTop(text: string): string[] {
  const parts: string[] = [];
  let depth = 0;
  let start = 0;
  for (let i = 0; i < text.length; i++) {
    const ch = text[i];
    if (ch === "(") depth++;
    else if (ch === ")") depth--;
    else if (ch === "," && depth === 0) {
      parts.push(text.slice(start, i));
      start = i + 1;
    }
  }
  parts.push(text.slice(start));
  return parts.map((p) => p.trim());
}

function key(text: string, k: string): string {
  if (!LABEL_KEY_RE.test(k)) throw bad(text, `"${k}" is not a label key`);
  return k;
}

function value(text: string, v: string): string {
  if (!LABEL_VALUE_RE.test(v)) throw bad(text, `"${v}" is not a label value`);
  return v;
}

function requirement(text: string, part: string): Requirement {
  if (part === "") throw bad(text, "an empty requirement (two commas, or one at an end)");
  const set = /^(\S+)\s+(in|notin)\s*\((.*)\)$/.exec(part);
  if (set) {
    const values = set[3]!.split(",").map((v) => value(text, v.trim()));
    if (values.length === 0 || (values.length === 1 && values[0] === "")) throw bad(text, `${set[2]} needs at least one value`);
    return { key: key(text, set[1]!), op: set[2] as "in" | "notin", values };
  }
  const cmp = /^([^=!\s]+)\s*(==|=|!=)\s*(.*)$/.exec(part);
  if (cmp) {
    const op = cmp[2] === "!=" ? "notin" : "in";
    return { key: key(text, cmp[1]!), op, values: [value(text, cmp[3]!.trim())] };
  }
  if (part.startsWith("!")) return { key: key(text, part.slice(1).trim()), op: "absent" };
  return { key: key(text, part), op: "exists" };
}

export function parseSelector(text: string): Selector {
  if (text.trim() === "") throw bad(text, "empty");
  return { text, requirements: splitTop(text).map((p) => requirement(text, p)) };
}

export function matches(selector: Selector, labels: Labels | undefined): boolean {
  return selector.requirements.every((r) => {
    const v = labels?.[r.key];
    switch (r.op) {
      case "exists": return v !== undefined;
      case "absent": return v === undefined;
      case "in": return v !== undefined && r.values.includes(v);
      case "notin": return v === undefined || !r.values.includes(v);
    }
  });
}
