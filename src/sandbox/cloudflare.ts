import { randomBytes } from "node:crypto";
import { createServer, type IncomingMessage, type ServerResponse } from "node:http";
import { settingsAsEnv } from "../lib/config-keys.js";
import { CfApiError, type CfRecord } from "./cloudflare-records.js";
import { cloudflareRoutes, type CfToken } from "./cloudflare-routes.js";
import { CloudflareWorld, type ZoneSpec } from "./cloudflare-state.js";
import { Traffic, readBody, send, serverError } from "./cloudflare-traffic.js";
import { compileRoutes, matchRoute } from "./http.js";
import { closeServer, listen } from "./util.js";

/**
 * A Cloudflare DNS API stand-in on loopback: zones and dns_records under /client/v4 with the
 * `{success, errors, messages, result, result_info}` envelope, Bearer token auth, the
 * 1,200-requests-per-5-minutes-per-token limit (429 for the rest of the window, scalable for
 * tests) and fault injection (5xx before or after applying a change, 429s, an error rate, latency).
 */

export type CloudflareToken = CfToken;

export interface CloudflareSandboxOptions {
  port?: number;
  /** Accepted API tokens; one random all-zones token when omitted. */
  tokens?: Array<string | CloudflareToken>;
  /** Zones created at start; default one `agents.example.test` zone on a pro plan. */
  zones?: ZoneSpec[];
  /** Keeps zones and records in `<dataDir>/cloudflare.json` across restarts. */
  dataDir?: string;
  /** Requests per window per token; Cloudflare's is 1,200 per 300 s. */
  rateLimit?: { limit: number; windowMs: number };
  /** Seed for the random error rate, so a faulty run can be replayed. */
  seed?: number;
  now?: () => number;
}

export interface CloudflareFaultOptions {
  status?: number;
  /** Apply the change, then fail: the client cannot tell whether it happened. */
  afterApply?: boolean;
  /** Only requests with these methods count (default: all). */
  methods?: string[];
}

export interface CloudflareFaults {
  /** The next `n` (matching) requests fail with a 5xx (500 by default). */
  failNext(n: number, options?: CloudflareFaultOptions): void;
  /** The next `n` requests get 429 with `retry-after: retryAfterSeconds`. */
  rateLimitNext(n: number, retryAfterSeconds?: number): void;
  /** Each request fails with `status` with this probability (seeded). */
  setErrorRate(rate: number, status?: number): void;
  /** Delay before every answer. */
  setLatency(ms: number): void;
  reset(): void;
}

export interface CloudflareRequestRecord {
  method: string;
  /** Path below /client/v4, without the query. */
  path: string;
  status: number;
}

export interface CloudflareSandboxHandle {
  /** Base URL for cloudflare.url / AUTOMNA_CLOUDFLARE_URL, e.g. http://127.0.0.1:4321/client/v4. */
  url: string;
  /** The first token (for CLOUDFLARE_API_TOKEN). */
  token: string;
  /** The first zone's id (for cloudflare.zoneId). */
  zoneId: string;
  zones: Array<{ id: string; name: string }>;
  faults: CloudflareFaults;
  requests: CloudflareRequestRecord[];
  /** cloudflare.url, cloudflare.token, cloudflare.zoneId and dns.template for the first zone. */
  config: Record<string, string>;
  /** The same as environment variables (CLOUDFLARE_API_TOKEN, AUTOMNA_CLOUDFLARE_*, AUTOMNA_DNS_TEMPLATE). */
  env: Record<string, string>;
  /** A copy of a zone's records (default: the first zone). */
  records(zoneId?: string): CfRecord[];
  close(): Promise<void>;
}

const BASE = "/client/v4";
const TOKEN_RE = /^[A-Za-z0-9_-]{8,200}$/;

export async function startCloudflareSandbox(options: CloudflareSandboxOptions = {}): Promise<CloudflareSandboxHandle> {
  const world = new CloudflareWorld(options.zones ?? [{ name: "agents.example.test" }], options.dataDir);
  const tokens = (options.tokens ?? [randomBytes(30).toString("base64url")]).map((t) => (typeof t === "string" ? { token: t } : t));
  const now = options.now ?? Date.now;
  const traffic = new Traffic(options.rateLimit ?? { limit: 1200, windowMs: 300_000 }, now, options.seed ?? 1);
  const requests: CloudflareRequestRecord[] = [];
  const routes = compileRoutes(cloudflareRoutes(world, now));

  const handle = async (req: IncomingMessage, res: ServerResponse): Promise<void> => {
    const method = req.method ?? "GET";
    const url = new URL(req.url ?? "/", "http://sandbox");
    const path = url.pathname.startsWith(BASE) ? url.pathname.slice(BASE.length) || "/" : url.pathname;
    // Logged before the answer is written, so a test sees the entry as soon as its call returns.
    const answer = (status: number, body: unknown): void => {
      if (requests.length >= 10_000) requests.shift();
      requests.push({ method, path, status });
      send(res, status, body);
    };
    res.setHeader("cf-ray", `${randomBytes(8).toString("hex")}-SBX`);
    try {
      await traffic.delay();
      const body = await readBody(req);
      const token = authenticate(req);
      traffic.admit(token.token, res);
      const fault = traffic.fault(method);
      if (fault && !fault.afterApply) throw serverError(fault.status);
      if (!url.pathname.startsWith(`${BASE}/`)) throw new CfApiError(404, 7000, "No route for that URI");
      const { match, pathExists } = matchRoute(routes, method, path);
      if (!match) throw pathExists ? new CfApiError(405, 10405, "Method not allowed for this route") : new CfApiError(404, 7000, "No route for that URI");
      const out = match.route.handler({ params: match.params, query: url.searchParams, body, token });
      if (fault) throw serverError(fault.status);
      answer(200, { success: true, errors: [], messages: [], result: out.result, ...(out.info ? { result_info: out.info } : {}) });
    } catch (error) {
      const e = error instanceof CfApiError ? error : new CfApiError(500, 10001, "Internal server error");
      answer(e.status, { success: false, errors: e.errors, messages: [], result: null });
    }
  };

  const authenticate = (req: IncomingMessage): CloudflareToken => {
    const header = req.headers.authorization;
    if (header === undefined) {
      if (req.headers["x-auth-key"] !== undefined || req.headers["x-auth-email"] !== undefined) {
        throw new CfApiError(400, 6003, "Invalid request headers", [{ code: 6103, message: "Invalid format for X-Auth-Key header" }]);
      }
      throw new CfApiError(400, 9106, "Missing X-Auth-Key, X-Auth-Email or Authorization headers");
    }
    const m = /^Bearer (\S+)$/.exec(header);
    if (!m || !TOKEN_RE.test(m[1]!)) throw new CfApiError(400, 6003, "Invalid request headers", [{ code: 6111, message: "Invalid format for Authorization header" }]);
    const token = tokens.find((t) => t.token === m[1]);
    if (!token) throw new CfApiError(401, 9109, "Invalid access token");
    return token;
  };

  const server = createServer((req, res) => void handle(req, res));
  const port = await listen(server, options.port ?? 0, "127.0.0.1");
  const url = `http://127.0.0.1:${port}${BASE}`;
  const first = world.zones[0]!;
  const config = { "cloudflare.url": url, "cloudflare.token": tokens[0]!.token, "cloudflare.zoneId": first.id, "dns.template": `{user}.${first.name}` };
  return {
    url,
    config,
    env: settingsAsEnv(config),
    token: tokens[0]!.token,
    zoneId: world.zones[0]!.id,
    zones: world.zones.map((z) => ({ id: z.id, name: z.name })),
    requests,
    records: (zoneId) => structuredClone(world.records.get(zoneId ?? world.zones[0]!.id) ?? []),
    faults: traffic.controls,
    close: async () => {
      await closeServer(server);
    },
  };
}
