import type { Reply } from "../http.js";

/** Hetzner's error body: always `{error:{code, message, details}}`. */
export function hError(status: number, code: string, message: string, details: Record<string, unknown> = {}): Reply {
  return { status, body: { error: { code, message, details } } };
}

/**
 * `invalid_input` naming the fields, e.g. `invalid input in field 'server_type'`. The spec
 * leaves the status to "4xx"; 422 as automna's brief fixes it (clients key on `error.code`).
 */
export function invalidInput(fields: { name: string; messages: string[] }[]): Reply {
  const first = fields[0]!;
  const message = fields.length === 1 ? `invalid input in field '${first.name}': ${first.messages.join(", ")}` : `invalid input in fields ${fields.map((f) => `'${f.name}'`).join(", ")}`;
  return hError(422, "invalid_input", message, { fields });
}

export function notFound(kind: string, id: string | number): Reply {
  return hError(404, "not_found", `${kind} with ID '${id}' not found`);
}

export function uniqueness(message: string, field: string): Reply {
  return hError(409, "uniqueness_error", message, { fields: [{ name: field }] });
}

export function locked(kind: string): Reply {
  return hError(423, "locked", `${kind} is locked: another action is running`);
}

const STATUS_CODES: Record<number, string> = {
  400: "invalid_input", 401: "unauthorized", 403: "forbidden", 404: "not_found", 405: "not_found", 408: "timeout",
  409: "conflict", 412: "resource_unavailable", 413: "invalid_input", 422: "invalid_input", 423: "locked",
  429: "rate_limit_exceeded", 500: "server_error", 502: "service_error", 503: "unavailable", 504: "timeout",
};

/**
 * A generic error for a status (faults, unknown routes). With a field, shaped like Hetzner's own
 * invalid input: the message names the field and `details.fields` carries what is wrong with it.
 */
export function statusError(status: number, message?: string, field?: string): Reply {
  const code = STATUS_CODES[status] ?? (status >= 500 ? "server_error" : "invalid_input");
  if (field) return hError(status, code, `invalid input in field '${field}'`, { fields: [{ name: field, messages: [message ?? "is invalid"] }] });
  return hError(status, code, message ?? `${code.replace(/_/g, " ")}`);
}

export interface Page<T> {
  items: T[];
  meta: { pagination: { page: number; per_page: number; previous_page: number | null; next_page: number | null; last_page: number; total_entries: number } };
  link: string;
}

/**
 * `page` (from 1) and `per_page` (default 25, at most 50): the body's `meta.pagination` and the
 * `Link` header with prev/next/last. Returns an error reply for malformed values.
 */
export function paginate<T>(items: T[], query: URLSearchParams, url: string): Page<T> | Reply {
  const rawPage = query.get("page");
  const rawPer = query.get("per_page");
  if (rawPage !== null && !/^\d+$/.test(rawPage)) return invalidInput([{ name: "page", messages: ["must be an integer"] }]);
  if (rawPer !== null && !/^\d+$/.test(rawPer)) return invalidInput([{ name: "per_page", messages: ["must be an integer"] }]);
  const page = Math.max(1, rawPage === null ? 1 : Number(rawPage));
  const perPage = Math.min(50, Math.max(1, rawPer === null ? 25 : Number(rawPer)));
  const total = items.length;
  const last = Math.max(1, Math.ceil(total / perPage));
  const slice = items.slice((page - 1) * perPage, page * perPage);
  const link = (p: number): string => {
    const q = new URLSearchParams(query);
    q.set("page", String(p));
    q.set("per_page", String(perPage));
    return `<${url}?${q.toString()}>`;
  };
  const links: string[] = [];
  if (page > 1) links.push(`${link(Math.min(page - 1, last))}; rel="prev"`);
  if (page < last) links.push(`${link(page + 1)}; rel="next"`);
  links.push(`${link(last)}; rel="last"`);
  return {
    items: slice,
    meta: { pagination: { page, per_page: perPage, previous_page: page > 1 ? Math.min(page - 1, last) : null, next_page: page < last ? page + 1 : null, last_page: last, total_entries: total } },
    link: links.join(", "),
  };
}

/** Applies `sort=field[:asc|:desc]` (repeatable) over the given accessors; unknown fields are an error. */
export function sortBy<T>(items: T[], query: URLSearchParams, fields: Record<string, (item: T) => string | number>): T[] | Reply {
  const sorts = query.getAll("sort").flatMap((s) => s.split(",")).filter(Boolean);
  if (sorts.length === 0) return items;
  const keys: { get: (item: T) => string | number; dir: number }[] = [];
  for (const sort of sorts) {
    const [field, dir = "asc"] = sort.split(":") as [string, string?];
    const get = fields[field];
    if (!get || (dir !== "asc" && dir !== "desc")) return invalidInput([{ name: "sort", messages: [`invalid sort value '${sort}'`] }]);
    keys.push({ get, dir: dir === "desc" ? -1 : 1 });
  }
  return [...items].sort((a, b) => {
    for (const k of keys) {
      const x = k.get(a);
      const y = k.get(b);
      if (x < y) return -k.dir;
      if (x > y) return k.dir;
    }
    return 0;
  });
}
