import { CfApiError, type CfRecord } from "./cloudflare-records.js";

/**
 * List filters of `GET /zones/{zone_id}/dns_records` as the API schema describes them: name, type,
 * content, proxied, comment(.exact|.contains|.startswith|.endswith|.present|.absent), tag and
 * tag.<predicate> (case-insensitive, combined by tag_match), search, match=all|any, order,
 * direction, page and per_page with `result_info`.
 */

export interface ResultInfo {
  page: number;
  per_page: number;
  count: number;
  total_count: number;
  total_pages: number;
}

type Predicate = (r: CfRecord) => boolean;

const lower = (s: string | undefined): string => (s ?? "").toLowerCase();

function tagPredicate(kind: string, arg: string): Predicate {
  const colon = arg.indexOf(":");
  const name = lower(colon === -1 ? arg : arg.slice(0, colon));
  const value = lower(colon === -1 ? "" : arg.slice(colon + 1));
  const tagsOf = (r: CfRecord): Array<[string, string]> =>
    r.tags.map((t) => (t.includes(":") ? [lower(t.slice(0, t.indexOf(":"))), lower(t.slice(t.indexOf(":") + 1))] : [lower(t), ""]));
  switch (kind) {
    case "present":
      return (r) => tagsOf(r).some(([n]) => n === name);
    case "absent":
      return (r) => !tagsOf(r).some(([n]) => n === name);
    case "exact":
      return (r) => tagsOf(r).some(([n, v]) => n === name && v === value);
    case "contains":
      return (r) => tagsOf(r).some(([n, v]) => n === name && v.includes(value));
    case "startswith":
      return (r) => tagsOf(r).some(([n, v]) => n === name && v.startsWith(value));
    default:
      return (r) => tagsOf(r).some(([n, v]) => n === name && v.endsWith(value));
  }
}

function commentPredicate(kind: string, arg: string): Predicate {
  const v = lower(arg);
  switch (kind) {
    case "present":
      return (r) => r.comment !== undefined;
    case "absent":
      return (r) => r.comment === undefined;
    case "contains":
      return (r) => r.comment !== undefined && lower(r.comment).includes(v);
    case "startswith":
      return (r) => r.comment !== undefined && lower(r.comment).startsWith(v);
    case "endswith":
      return (r) => r.comment !== undefined && lower(r.comment).endsWith(v);
    default:
      return (r) => r.comment !== undefined && lower(r.comment) === v;
  }
}

function choice(params: URLSearchParams, key: string, allowed: readonly string[], fallback: string): string {
  const value = params.get(key) ?? fallback;
  if (!allowed.includes(value)) throw new CfApiError(400, 1004, `Invalid value for ${key}: must be one of ${allowed.join(", ")}`);
  return value;
}

function positiveInt(params: URLSearchParams, key: string, fallback: number, min: number, max: number): number {
  const raw = params.get(key);
  if (raw === null) return fallback;
  const n = Number(raw);
  if (!Number.isInteger(n) || n < min || n > max) throw new CfApiError(400, 1004, `Invalid value for ${key}: must be an integer from ${min} to ${max}`);
  return n;
}

export function filterRecords(records: readonly CfRecord[], params: URLSearchParams): { result: CfRecord[]; info: ResultInfo } {
  const match = choice(params, "match", ["all", "any"], "all");
  const tagMatch = choice(params, "tag_match", ["all", "any"], "all");
  const order = choice(params, "order", ["type", "name", "content", "ttl", "proxied"], "type");
  const direction = choice(params, "direction", ["asc", "desc"], "asc");
  const page = positiveInt(params, "page", 1, 1, Number.MAX_SAFE_INTEGER);
  const perPage = positiveInt(params, "per_page", 100, 1, 5_000_000);

  const plain: Predicate[] = [];
  for (const name of params.getAll("name")) plain.push((r) => r.name === lower(name).replace(/\.$/, ""));
  for (const type of params.getAll("type")) plain.push((r) => r.type === type.toUpperCase());
  for (const content of params.getAll("content")) plain.push((r) => lower(r.content) === lower(content).replace(/\.$/, ""));
  for (const proxied of params.getAll("proxied")) plain.push((r) => String(r.proxied) === proxied);
  for (const c of params.getAll("comment")) plain.push(commentPredicate("exact", c));
  for (const kind of ["exact", "contains", "startswith", "endswith", "present", "absent"]) {
    for (const c of params.getAll(`comment.${kind}`)) plain.push(commentPredicate(kind, c));
  }
  const search = params.get("search");
  if (search) plain.push((r) => [r.name, r.content, r.comment ?? ""].some((f) => lower(f).includes(lower(search))));

  const tags: Predicate[] = [];
  for (const t of params.getAll("tag")) tags.push(tagPredicate(t.includes(":") ? "exact" : "present", t));
  for (const kind of ["present", "absent", "exact", "contains", "startswith", "endswith"]) {
    for (const t of params.getAll(`tag.${kind}`)) tags.push(tagPredicate(kind, t));
  }
  if (tags.length) plain.push(tagMatch === "all" ? (r) => tags.every((p) => p(r)) : (r) => tags.some((p) => p(r)));

  const matched = plain.length === 0 ? [...records] : records.filter((r) => (match === "all" ? plain.every((p) => p(r)) : plain.some((p) => p(r))));
  const key = (r: CfRecord): string | number => (order === "ttl" ? r.ttl : order === "proxied" ? Number(r.proxied) : r[order as "type" | "name" | "content"]);
  matched.sort((a, b) => {
    const ka = key(a);
    const kb = key(b);
    const c = ka < kb ? -1 : ka > kb ? 1 : a.name < b.name ? -1 : a.name > b.name ? 1 : a.created_on.localeCompare(b.created_on);
    return direction === "asc" ? c : -c;
  });
  const start = (page - 1) * perPage;
  const result = matched.slice(start, start + perPage);
  return {
    result,
    info: { page, per_page: perPage, count: result.length, total_count: matched.length, total_pages: Math.max(1, Math.ceil(matched.length / perPage)) },
  };
}
