import type { SandboxEnv } from "../env.js";
import type { Limit, Reply } from "../http.js";
import { TokenBucket } from "../rate-limit.js";
import type { StandIn } from "../stand-in.js";
import { appRoutes, catalogRoutes, secretRoutes, volumeRoutes } from "./resources.js";
import { isHeld, serviceRoutes } from "./services.js";
import { kError, koyebWorld, type KApp } from "./state.js";
import { streamRoutes } from "./streams.js";

/**
 * Koyeb documents no rate limit; a third-party probe saw `x-ratelimit-limit: 400, 400;w=60` with
 * `x-ratelimit-remaining` and `x-ratelimit-reset` (seconds) and no Retry-After. Assumed here: 400
 * requests per 60 s per token as a token bucket, those headers on every answer, and a 429
 * `rate_limit_error` body (the spec intro's code) when it is spent.
 */
const LIMIT = 400;
const WINDOW_S = 60;

/**
 * The Koyeb API stand-in (paths `/v1/...`): apps, services with deployments that go through
 * their states, instances as simulated hosts, secrets, volumes, the catalog, logs and exec over
 * WebSockets. Admin: `DELETE /koyeb/apps/{id}` and `DELETE /koyeb/services/{id}`.
 */
export function koyebStandIn(env: SandboxEnv): StandIn {
  const w = koyebWorld(env);
  const services = serviceRoutes(env);
  const deleteApp = (app: KApp): void => {
    for (const s of Object.values(w.services)) if (s.appId === app.id) services.deleteNow(s);
    delete w.apps[app.id];
    env.world.changed();
  };
  const streams = streamRoutes(env, (s) => env.sim?.handle(services.hostOf(s).key));
  const buckets = new Map<string, TokenBucket>();
  const bucket = (token: string | null): TokenBucket => {
    const key = token ?? "anonymous";
    let b = buckets.get(key);
    if (!b) buckets.set(key, (b = new TokenBucket(LIMIT, (LIMIT / WINDOW_S) * env.rateScale)));
    return b;
  };
  const headers = (b: TokenBucket, now: number): Record<string, string> => ({
    "x-ratelimit-limit": `${LIMIT}, ${LIMIT};w=${WINDOW_S}`,
    "x-ratelimit-remaining": String(b.remaining(now)),
    "x-ratelimit-reset": String(Math.ceil(b.fullInMs(now) / 1000)),
  });
  const tooMany = (): Reply => kError(429, "rate_limit_error", "Too many requests");
  return {
    provider: "koyeb",
    routes: [...catalogRoutes(env), ...appRoutes(env, deleteApp), ...secretRoutes(env), ...volumeRoutes(env), ...services.routes, ...streams.routes],
    limit(token, _route, now): Limit {
      const b = bucket(token);
      if (!env.rateLimits) return { headers: headers(b, now) };
      return b.take(now) ? { headers: headers(b, now) } : { headers: headers(b, now), blocked: tooMany() };
    },
    storm: (token, now) => ({ ...tooMany(), headers: { ...headers(bucket(token), now), "x-ratelimit-remaining": "0", "x-ratelimit-reset": "1" } }),
    error: (status, message, field) => kError(status, status === 429 ? "rate_limit_error" : status >= 500 ? "api_error" : status === 404 ? "unknown_resource" : "invalid_argument", message ?? (status >= 500 ? "Internal error" : "Request failed"), field ? [{ field, description: message ?? "is invalid" }] : undefined),
    unauthorized: () => kError(401, "authentication_error", "Unauthorized"),
    notFound: () => kError(404, "not_found", "Not Found"),
    badJson: () => kError(400, "invalid_argument", "invalid JSON in request body"),
    upgrade: (u) => streams.upgrade(u),
    addressesInUse: () => Object.values(w.services).map((s) => s.address),
    resumeHosts() {
      for (const s of Object.values(w.services)) if (s.status === "HEALTHY" || s.status === "DEGRADED") void env.hosts.set(services.hostOf(s), true);
    },
    facts(id) {
      const s = w.services[id];
      const d = s ? w.deployments[s.latestDeploymentId] : undefined;
      if (!s || !d) return undefined;
      // No SSH login: Koyeb reaches its instances through the exec API.
      return { authorizedKeys: [], userData: null, held: isHeld(d.definition) };
    },
    summary: () => ({
      apps: Object.values(w.apps).map((a) => ({ id: a.id, name: a.name })),
      services: Object.values(w.services).map((s) => ({ id: s.id, app: s.appId, name: s.name, status: s.status, ip: s.address, latestDeployment: w.deployments[s.latestDeploymentId]?.status })),
      volumes: Object.values(w.volumes).map((v) => ({ id: v.id, name: v.name, region: v.region, maxSize: v.maxSize, service: v.serviceId })),
      secrets: Object.values(w.secrets).map((s) => s.name),
    }),
    adminDelete([kind, id, ...rest]) {
      if (!id || rest.length) return undefined;
      if (kind === "apps") return w.apps[id] ? (deleteApp(w.apps[id]), true) : false;
      if (kind === "services") return w.services[id] ? (services.deleteNow(w.services[id]), true) : false;
      return undefined;
    },
  };
}
