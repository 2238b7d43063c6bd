import type { SandboxEnv } from "../env.js";
import type { ApiRequest, Reply } from "../http.js";

/** DigitalOcean's error body: `{id, message, request_id}`. */
export function doError(status: number, id: string, message: string): Reply {
  return { status, body: { id, message } };
}

export function unprocessable(message: string): Reply {
  return doError(422, "unprocessable_entity", message);
}

export function notFound(): Reply {
  return doError(404, "not_found", "The resource you were accessing could not be found.");
}

const IDS: Record<number, [string, string]> = {
  400: ["bad_request", "error parsing request body"],
  401: ["unauthorized", "Unable to authenticate you."],
  403: ["forbidden", "You do not have access for the attempted action."],
  404: ["not_found", "The resource you were accessing could not be found."],
  405: ["not_found", "The resource you were accessing could not be found."],
  408: ["request_timeout", "Request timed out."],
  409: ["conflict", "Conflict."],
  413: ["request_entity_too_large", "Request body too large."],
  422: ["unprocessable_entity", "Unprocessable entity."],
  429: ["too_many_requests", "API Rate limit exceeded."],
  500: ["server_error", "Server Error"],
  502: ["bad_gateway", "Bad Gateway"],
  503: ["service_unavailable", "Service Unavailable"],
  504: ["gateway_timeout", "Gateway Timeout"],
};

export function statusError(status: number, message?: string): Reply {
  const [id, text] = IDS[status] ?? [status >= 500 ? "server_error" : "bad_request", "Error"];
  return doError(status, id, message ?? text);
}

export interface DoPage<T> {
  items: T[];
  links: Record<string, unknown>;
  meta: { total: number };
}

/**
 * `page` and `per_page` (default 20, at most 200): `links.pages` only with the links that make
 * sense (no first/prev on page 1, no next/last on the last page) and `meta.total`.
 */
export function paginate<T>(items: T[], query: URLSearchParams, url: string): DoPage<T> | Reply {
  const rawPage = query.get("page");
  const rawPer = query.get("per_page");
  if ((rawPage !== null && !/^\d+$/.test(rawPage)) || (rawPer !== null && !/^\d+$/.test(rawPer))) {
    return doError(400, "bad_request", "page and per_page must be positive integers");
  }
  const page = Math.max(1, rawPage === null ? 1 : Number(rawPage));
  const perPage = Math.min(200, Math.max(1, rawPer === null ? 20 : Number(rawPer)));
  const total = items.length;
  const last = Math.max(1, Math.ceil(total / perPage));
  const link = (p: number): string => {
    const q = new URLSearchParams(query);
    q.set("page", String(p));
    q.set("per_page", String(perPage));
    return `${url}?${q.toString()}`;
  };
  const pages: Record<string, string> = {};
  if (page > 1) {
    pages.first = link(1);
    pages.prev = link(Math.min(page - 1, last));
  }
  if (page < last) {
    pages.next = link(page + 1);
    pages.last = link(last);
  }
  return {
    items: items.slice((page - 1) * perPage, page * perPage),
    links: Object.keys(pages).length ? { pages } : {},
    meta: { total },
  };
}

/** Tag names: letters, digits, `:`, `-` and `_`, at most 255 characters. */
export const TAG_NAME = /^[a-zA-Z0-9_\-:]{1,255}$/;

/** Whose request this is: the second account's token, or the sandbox's own account (undefined). */
export function accountOf(env: SandboxEnv, req: Pick<ApiRequest, "token">): "second" | undefined {
  return env.secondAccountToken !== undefined && req.token === env.secondAccountToken ? "second" : undefined;
}
