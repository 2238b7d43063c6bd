import { UsageError } from "./errors.js";
import type { LabelChange, Labels } from "../state/types.js";

/**
 * Label keys and values, as Kubernetes and Hetzner Cloud define them: a key is an optional DNS
 * prefix and `/`, then a name of up to 63 characters (alphanumerics, `-`, `_`, `.`, beginning
 * and ending alphanumeric); a value is empty or such a name. Operators bring these habits.
 */
const NAME = "[A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?";
export const LABEL_KEY_RE = new RegExp(`^([a-z0-9]([-a-z0-9.]{0,251}[a-z0-9])?/)?${NAME}$`);
export const LABEL_VALUE_RE = new RegExp(`^(${NAME})?$`);

export function checkLabelKey(flag: string, key: string): string {
  if (!LABEL_KEY_RE.test(key)) {
    throw new UsageError(`${flag}: "${key}" is not a label key`, { hint: "keys are up to 63 letters, digits, -, _ or ., beginning and ending with a letter or digit, optionally after a prefix/ (e.g. plan, example.com/cohort)" });
  }
  return key;
}

export function checkLabelValue(flag: string, key: string, value: string): string {
  if (!LABEL_VALUE_RE.test(value)) {
    throw new UsageError(`${flag}: "${value}" is not a valid value for label ${key}`, { hint: "values are empty or up to 63 letters, digits, -, _ or ., beginning and ending with a letter or digit" });
  }
  return value;
}

/** `plan=pro` as a key and value (provision --label). */
export function parseLabel(flag: string, text: string): [string, string] {
  const eq = text.indexOf("=");
  if (eq < 0) throw new UsageError(`${flag}: expected key=value, got "${text}"`, { hint: "e.g. --label plan=pro" });
  const key = checkLabelKey(flag, text.slice(0, eq));
  return [key, checkLabelValue(flag, key, text.slice(eq + 1))];
}

/** Repeated --label flags as labels; a key given twice with two values is an error, not a silent last-wins. */
export function parseLabels(flag: string, texts: readonly string[]): Labels {
  const labels: Labels = {};
  for (const text of texts) {
    const [key, value] = parseLabel(flag, text);
    if (key in labels && labels[key] !== value) throw new UsageError(`${flag}: label ${key} given twice (${labels[key]} and ${value})`);
    labels[key] = value;
  }
  return labels;
}

/** `label`'s changes: `k=v` sets, `k-` removes (kubectl's spelling). */
export function parseLabelChange(texts: readonly string[]): LabelChange {
  const set: Labels = {};
  const remove: string[] = [];
  for (const text of texts) {
    if (text.endsWith("-") && !text.includes("=")) remove.push(checkLabelKey("label", text.slice(0, -1)));
    else {
      const [key, value] = parseLabel("label", text);
      if (key in set && set[key] !== value) throw new UsageError(`label ${key} given twice (${set[key]} and ${value})`);
      set[key] = value;
    }
  }
  const both = remove.filter((k) => k in set);
  if (both.length) throw new UsageError(`label ${both[0]} is both set and removed`, { hint: `give ${both[0]}=value or ${both[0]}-, not both` });
  return { set, remove };
}

/** `cohort=beta,plan=pro`, in key order: one cell of a table. */
export function formatLabels(labels: Labels | undefined): string {
  return Object.keys(labels ?? {}).sort().map((k) => `${k}=${labels![k]}`).join(",");
}
