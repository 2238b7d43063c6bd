import { createServer, STATUS_CODES, type IncomingHttpHeaders, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import type { Duplex } from "node:stream";
import { readAllWithin } from "../lib/read-all.js";
import type { Faults } from "./faults.js";
import type { SandboxProvider } from "./util.js";
import { closeServer, listen, sleep } from "./util.js";

/** What a route handler returns; the pipeline writes it (so faults can replace it). */
export interface Reply {
  status: number;
  body?: unknown;
  headers?: Record<string, string>;
  /** Bytes sent as they are instead of a JSON body (a file, a tar). */
  raw?: { contentType: string; data: Buffer };
  /** A body written as it is produced (server-sent events): headers first, then `write` until it resolves. */
  stream?: { contentType: string; write(out: NodeJS.WritableStream): Promise<void> };
}

/**
 * A handler helper's error reply rather than its result. Replies have a numeric status; resources
 * have string ones (or none), and pages carry `items`.
 */
export function isReply(value: unknown): value is Reply {
  return typeof value === "object" && value !== null && typeof (value as { status?: unknown }).status === "number" && !("items" in value);
}

export interface ApiRequest {
  method: string;
  path: string;
  query: URLSearchParams;
  params: Record<string, string>;
  /** Parsed JSON body; undefined when there was none (or the route takes raw bytes). */
  body: unknown;
  /** The body's bytes, for routes that take `raw`; null when it was larger than the route's limit. */
  raw?: Buffer | null;
  headers: IncomingHttpHeaders;
  /** The bearer token presented (may be wrong). */
  token: string | null;
  /** Aborted when the client goes away (long polls stop waiting). */
  signal: AbortSignal;
  /** `http://host:port` of this API (for links). */
  origin: string;
}

export type Handler = (req: ApiRequest) => Reply | Promise<Reply>;

export interface Route {
  method: string;
  /** `/v1/servers/:id/actions/:action` */
  pattern: string;
  /** Stable name for rate-limit keys. */
  name: string;
  /** The only values a parameter takes (`action: poweron|...`), where the real API has one path per value. */
  values?: Record<string, readonly string[]>;
  /** The body is bytes, not JSON, of at most this many bytes (the handler sees `raw`). */
  raw?: number;
  /** Answered without a token (a health check). */
  open?: boolean;
  handler: Handler;
}

/** Result of a provider's rate-limit check. */
export interface Limit {
  headers: Record<string, string>;
  /** The 429 to send instead of handling, if over budget. */
  blocked?: Reply;
}

/** Everything provider-specific the request pipeline needs. */
export interface ProviderApi {
  provider: SandboxProvider;
  routes: Route[];
  /** Counts the request against the budget and returns headers (and a 429 when over). */
  limit(token: string | null, route: MatchedRoute | null, now: number): Limit;
  /** The 429 of a rate-limit storm fault (and headers saying the budget is gone). */
  storm(token: string | null, now: number): Reply;
  /** An error in the provider's own format; `field` names the request field it is about. */
  error(status: number, message?: string, field?: string): Reply;
  unauthorized(): Reply;
  notFound(): Reply;
  badJson(): Reply;
  /** Headers on every response (request ids and such). */
  decorate?(reply: Reply): void;
  /** An answer due before auth (a malformed id some APIs refuse before they look at the token). */
  precheck?(method: string, path: string): Reply | undefined;
  /** Tokens of other accounts this API accepts besides the sandbox token (handlers tell them apart by `req.token`). */
  otherTokens?: readonly string[];
  /**
   * A WebSocket upgrade that passed faults, the rate limit and auth (the token may come as the
   * `Sec-WebSocket-Protocol: Bearer, <token>` pair): the stand-in completes the handshake.
   * Absent: upgrades get the provider's 404.
   */
  upgrade?(req: UpgradeRequest): void;
}

/** An authorised WebSocket upgrade request, for ProviderApi.upgrade. */
export interface UpgradeRequest {
  req: IncomingMessage;
  socket: Duplex;
  head: Buffer;
  path: string;
  query: URLSearchParams;
  params: Record<string, string>;
  /** A fault asked for the connection to be dropped once it is open (after `latencyMs`). */
  dropAfterOpen: boolean;
}

export interface MatchedRoute {
  route: Route;
  params: Record<string, string>;
}

export interface RequestRecord {
  provider: SandboxProvider;
  method: string;
  /** Path without the query string. */
  path: string;
  /** Query string without the `?` (empty when none). */
  query: string;
  /** 0 when the connection was reset by a fault. */
  status: number;
  at: string;
}

const MAX_BODY = 1024 * 1024;
const MAX_LOG = 100_000;

interface CompiledRoute<R extends { method: string; pattern: string } = Route> {
  route: R;
  segments: string[];
}

/** Splits each route's pattern once, for matchRoute. */
export function compileRoutes<R extends { method: string; pattern: string }>(routes: readonly R[]): CompiledRoute<R>[] {
  return routes.map((route) => ({ route, segments: route.pattern.split("/").filter(Boolean) }));
}

/** Matches a path against routes; also says whether the path exists for another method. */
export function matchRoute<R extends { method: string; pattern: string }>(routes: CompiledRoute<R>[], method: string, path: string): { match: { route: R; params: Record<string, string> } | null; pathExists: boolean } {
  const parts = path.split("/").filter(Boolean).map((p) => {
    try {
      return decodeURIComponent(p);
    } catch {
      return p;
    }
  });
  let pathExists = false;
  for (const { route, segments } of routes) {
    // A last segment `:name*` takes the rest of the path (one segment or more), slashes kept.
    const rest = segments.at(-1)?.startsWith(":") === true && segments.at(-1)!.endsWith("*");
    if (rest ? parts.length < segments.length : segments.length !== parts.length) continue;
    const params: Record<string, string> = {};
    let ok = true;
    for (let i = 0; i < segments.length; i++) {
      const s = segments[i]!;
      if (rest && i === segments.length - 1) params[s.slice(1, -1)] = parts.slice(i).join("/");
      else if (s.startsWith(":")) params[s.slice(1)] = parts[i]!;
      else if (s !== parts[i]) {
        ok = false;
        break;
      }
    }
    if (!ok) continue;
    pathExists = true;
    if (route.method === method) return { match: { route, params }, pathExists };
  }
  return { match: null, pathExists };
}

/** Shared state the pipeline consults on every request. */
export interface PipelineContext {
  token: string;
  faults: Faults;
  log: RequestRecord[];
}

/** Reads the bearer token (Fly also accepts its `FlyV1` scheme). */
function bearer(headers: IncomingHttpHeaders): string | null {
  const value = headers.authorization;
  if (!value) return null;
  const m = /^(?:Bearer|FlyV1)\s+(.+)$/i.exec(value.trim());
  return m ? m[1]!.trim() : null;
}

/** A WebSocket's token offered as subprotocols (`Sec-WebSocket-Protocol: Bearer, <token>`, as Koyeb's CLI sends it). */
function protocolBearer(headers: IncomingHttpHeaders): string | null {
  const offered = (headers["sec-websocket-protocol"] ?? "").split(",").map((p) => p.trim());
  const at = offered.findIndex((p) => p.toLowerCase() === "bearer");
  return at >= 0 && offered[at + 1] ? offered[at + 1]! : null;
}

/**
 * One provider's HTTP server: faults (latency, reset, storms, errors, commit-then-error), the
 * rate limit, bearer auth, routing, JSON bodies, and the request log, in that order.
 */
export class ApiServer {
  readonly api: ProviderApi;
  readonly #ctx: PipelineContext;
  readonly #routes: CompiledRoute[];
  readonly #server: Server;
  origin = "";

  constructor(api: ProviderApi, ctx: PipelineContext) {
    this.api = api;
    this.#ctx = ctx;
    this.#routes = compileRoutes(api.routes);
    this.#server = createServer({ keepAliveTimeout: 5000 }, (req, res) => {
      this.#handle(req, res).catch((error: unknown) => {
        if (!res.headersSent) this.#write(res, { status: 500, body: { error: String(error) } }, {});
      });
    });
    this.#server.on("upgrade", (req: IncomingMessage, socket: Duplex, head: Buffer) => {
      this.#upgrade(req, socket, head).catch(() => socket.destroy());
    });
  }

  /** WebSocket upgrades go through the same faults, budget and auth as requests. */
  async #upgrade(req: IncomingMessage, socket: Duplex, head: Buffer): Promise<void> {
    const now = Date.now();
    const url = new URL(req.url ?? "/", "http://sandbox");
    const path = url.pathname;
    const record = (status: number): void => {
      const log = this.#ctx.log;
      if (log.length >= MAX_LOG) log.splice(0, log.length - MAX_LOG + 1);
      log.push({ provider: this.api.provider, method: "GET", path, query: url.search.slice(1), status, at: new Date(now).toISOString() });
    };
    const { match } = matchRoute(this.#routes, "GET", path);
    const decision = this.#ctx.faults.decide(this.api.provider, "GET", path, now);
    if (decision.latencyMs > 0 && decision.action?.kind !== "reset") await sleep(decision.latencyMs);
    const action = decision.action;
    const token = bearer(req.headers) ?? protocolBearer(req.headers);
    const known = this.#known(token);
    const limit = this.api.limit(known ? token : null, match, Date.now());
    let reply: Reply | undefined;
    if (action?.kind === "reset" && !action.commit) {
      socket.destroy();
      return record(0);
    }
    if (limit.blocked) reply = limit.blocked;
    else if (!known) reply = this.api.unauthorized();
    else if (action?.kind === "rate_limit") reply = this.api.storm(token, Date.now());
    else if (action?.kind === "error") reply = this.api.error(action.status, action.message, action.field);
    else if (!match || !this.api.upgrade || req.headers.upgrade?.toLowerCase() !== "websocket") reply = this.api.notFound();
    if (reply) {
      this.api.decorate?.(reply);
      const text = reply.body === undefined ? "" : JSON.stringify(reply.body);
      const headers = { ...limit.headers, ...reply.headers, "content-type": "application/json", "content-length": String(Buffer.byteLength(text)), connection: "close" };
      socket.end(`HTTP/1.1 ${reply.status} ${STATUS_CODES[reply.status] ?? ""}\r\n${Object.entries(headers).map(([k, v]) => `${k}: ${v}`).join("\r\n")}\r\n\r\n${text}`);
      return record(reply.status);
    }
    record(101);
    this.api.upgrade!({ req, socket, head, path, query: url.searchParams, params: match!.params, dropAfterOpen: action?.kind === "reset" });
  }

  #known(token: string | null): boolean {
    return token !== null && (token === this.#ctx.token || this.api.otherTokens?.includes(token) === true);
  }

  async listen(host: string, port: number): Promise<string> {
    this.origin = `http://${host}:${await listen(this.#server, port, host)}`;
    return this.origin;
  }

  close(): Promise<void> {
    return closeServer(this.#server);
  }

  async #handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const now = Date.now();
    const url = new URL(req.url ?? "/", "http://sandbox");
    const method = (req.method ?? "GET").toUpperCase();
    const path = url.pathname;
    const record = (status: number): void => {
      const log = this.#ctx.log;
      if (log.length >= MAX_LOG) log.splice(0, log.length - MAX_LOG + 1);
      log.push({ provider: this.api.provider, method, path, query: url.search.slice(1), status, at: new Date(now).toISOString() });
    };
    const { match, pathExists } = matchRoute(this.#routes, method, path);
    const decision = this.#ctx.faults.decide(this.api.provider, method, path, now);
    if (decision.latencyMs > 0) await sleep(decision.latencyMs);
    const action = decision.action;
    if (action?.kind === "reset" && !action.commit) {
      req.socket.destroy();
      record(0);
      return;
    }

    const token = bearer(req.headers);
    const known = this.#known(token);
    const limit = this.api.limit(known ? token : null, match, Date.now());
    const early = this.api.precheck?.(method, path);
    let reply: Reply;
    // A provider that is down answers before it looks at tokens or budgets.
    if (action?.outage) reply = this.api.error(action.status, action.message, action.field);
    else if (limit.blocked) reply = limit.blocked;
    else if (early) reply = early;
    else if (!known && !match?.route.open) reply = this.api.unauthorized();
    else if (action?.kind === "rate_limit") reply = this.api.storm(token, Date.now());
    else if (action?.kind === "error" && !action.commit) reply = this.api.error(action.status, action.message, action.field);
    else if (!match) reply = pathExists ? this.api.error(405, "method not allowed") : this.api.notFound();
    else {
      const raw = match.route.raw === undefined ? undefined : await readRaw(req, match.route.raw);
      const body = raw === undefined ? await readBody(req) : undefined;
      if (body === TOO_LARGE) reply = this.api.error(413, "request body too large");
      else if (body === BAD_JSON) reply = this.api.badJson();
      else {
        const controller = new AbortController();
        res.on("close", () => controller.abort());
        reply = await match.route.handler({
          method, path, query: url.searchParams, params: match.params, body, ...(raw === undefined ? {} : { raw }), headers: req.headers, token,
          signal: controller.signal, origin: this.origin,
        });
        if (action?.kind === "error") reply = this.api.error(action.status, action.message, action.field);
        if (action?.kind === "reset") {
          req.socket.destroy();
          record(0);
          return;
        }
      }
    }
    if (res.destroyed) {
      record(reply.status);
      return;
    }
    if (reply.stream) await this.#stream(res, reply, reply.stream, limit.headers);
    else this.#write(res, reply, limit.headers);
    record(reply.status);
  }

  async #stream(res: ServerResponse, reply: Reply, stream: NonNullable<Reply["stream"]>, limitHeaders: Record<string, string>): Promise<void> {
    this.api.decorate?.(reply);
    res.writeHead(reply.status, { ...limitHeaders, ...reply.headers, "content-type": stream.contentType, "cache-control": "no-cache" });
    try {
      await stream.write(res);
    } finally {
      res.end();
    }
  }

  #write(res: ServerResponse, reply: Reply, limitHeaders: Record<string, string>): void {
    this.api.decorate?.(reply);
    const headers: Record<string, string> = { ...limitHeaders, ...reply.headers };
    if (reply.raw) {
      res.writeHead(reply.status, { ...headers, "content-type": reply.raw.contentType, "content-length": String(reply.raw.data.length) });
      res.end(reply.raw.data);
      return;
    }
    if (reply.body === undefined) {
      res.writeHead(reply.status, headers);
      res.end();
      return;
    }
    const text = JSON.stringify(reply.body);
    headers["content-type"] = "application/json";
    headers["content-length"] = String(Buffer.byteLength(text));
    res.writeHead(reply.status, headers);
    res.end(text);
  }
}

const TOO_LARGE = Symbol("too large");
const BAD_JSON = Symbol("bad json");

/**
 * A raw body of at most `limit` bytes, or null when it was larger: read to its end all the same
 * (up to four times the limit), so the client gets the error answer rather than a reset connection.
 */
async function readRaw(req: IncomingMessage, limit: number): Promise<Buffer | null> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req) {
    const bytes = chunk as Buffer;
    size += bytes.length;
    if (size > 4 * limit) return null;
    if (size <= limit) chunks.push(bytes);
  }
  return size > limit ? null : Buffer.concat(chunks, size);
}

async function readBody(req: IncomingMessage): Promise<unknown> {
  const raw = await readAllWithin(req, MAX_BODY);
  if (raw === null) return TOO_LARGE;
  if (raw.length === 0) return undefined;
  try {
    return JSON.parse(raw.toString("utf8")) as unknown;
  } catch {
    return BAD_JSON;
  }
}
