import { CfApiError, type CfRecord } from "./cloudflare-records.js";

/**
 * List filters of `GET /zones/{zone_id}/dns_records` as Cloudflare documents them: `name`,
 * `content` and `comment`, each also as `.exact|.contains|.startswith|.endswith` (the plain form is
 * `.exact`; comment adds `.present|.absent`), all case-insensitive; `type`, `proxied`, `search`;
 * `tag` and `tag.<predicate>` (combined by `tag_match`); `match=all|any` across the filters;
 * `order`, `direction`, `page` and `per_page` with `result_info`. An unknown predicate of a known
 * filter (`name.like`) is refused with 400, never ignored: a client that deletes what a name
 * lookup returns must not get the whole zone.
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

const TEXT_PREDICATES = ["exact", "contains", "startswith", "endswith"] as const;
const TAG_PREDICATES = ["present", "absent", "exact", "contains", "startswith", "endswith"] as const;

/** Names and contents are stored without a trailing dot, so `exact`/`endswith` of `a.example.` match `a.example`. */
const noDot = (v: string): string => v.replace(/\.$/, "");

const TEXT_FILTERS: Record<string, { field: (r: CfRecord) => string | undefined; predicates: readonly string[]; clean: (v: string) => string }> = {
  name: { field: (r) => r.name, predicates: TEXT_PREDICATES, clean: noDot },
  content: { field: (r) => r.content, predicates: TEXT_PREDICATES, clean: noDot },
  comment: { field: (r) => r.comment, predicates: [...TEXT_PREDICATES, "present", "absent"], clean: (v) => v },
};

/** A case-insensitive predicate over one text field of a record (a record without the field matches only `absent`). */
function textPredicate(field: (r: CfRecord) => string | undefined, kind: string, arg: string): Predicate {
  if (kind === "present") return (r) => field(r) !== undefined;
  if (kind === "absent") return (r) => field(r) === undefined;
  const v = lower(arg);
  const test = kind === "contains" ? (f: string) => f.includes(v) : kind === "startswith" ? (f: string) => f.startsWith(v) : kind === "endswith" ? (f: string) => f.endsWith(v) : (f: string) => f === v;
  return (r) => {
    const value = field(r);
    return value !== undefined && test(lower(value));
  };
}

/** `name=`, `name.exact=`, `comment.present=`...: the text filters' predicates, or a 400 for an unknown one. */
function textFilters(params: URLSearchParams): Predicate[] {
  const out: Predicate[] = [];
  for (const [key, value] of params) {
    const dot = key.indexOf(".");
    const base = dot === -1 ? key : key.slice(0, dot);
    const kind = dot === -1 ? "exact" : key.slice(dot + 1);
    if (base === "tag" && dot !== -1 && !(TAG_PREDICATES as readonly string[]).includes(kind)) throw unknownFilter(key);
    const filter = TEXT_FILTERS[base];
    if (!filter) continue;
    if (!filter.predicates.includes(kind)) throw unknownFilter(key);
    out.push(textPredicate(filter.field, kind, kind === "exact" || kind === "endswith" ? filter.clean(value) : value));
  }
  return out;
}

function unknownFilter(key: string): CfApiError {
  return new CfApiError(400, 1004, `Invalid filter "${key}": the sandbox knows name, content and comment with .exact, .contains, .startswith, .endswith (comment also .present, .absent), and tag with .present, .absent, .exact, .contains, .startswith, .endswith`);
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

  const plain: Predicate[] = textFilters(params);
  for (const type of params.getAll("type")) plain.push((r) => r.type === type.toUpperCase());
  for (const proxied of params.getAll("proxied")) plain.push((r) => String(r.proxied) === proxied);
  const search = params.get("search");
  if (search) plain.push((r) => [r.name, r.content, r.comment ?? ""].some((f) => lower(f).includes(lower(search))));

  const tags: Predicate[] = [];
  for (const t of params.getAll("tag")) tags.push(tagPredicate(t.includes(":") ? "exact" : "present", t));
  for (const kind of TAG_PREDICATES) {
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
