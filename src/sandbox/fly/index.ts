import type { SandboxEnv } from "../env.js";
import type { Limit, MatchedRoute, ProviderApi, Reply } from "../http.js";
import { BucketMap, TokenBucket } from "../rate-limit.js";
import type { FlyApp } from "../world-types.js";
import { appRoutes, secretRoutes, volumeRoutes } from "./apps.js";
import { flyError } from "./common.js";
import { execRoutes } from "./exec.js";
import { forgetLogs, logRoutes } from "./logs.js";
import { machineRoutes } from "./machines.js";
import { platformRoutes } from "./platform.js";

export interface FlyApi extends ProviderApi {
  /** Destroys a machine at once, behind automna's back (admin). */
  forceDeleteMachine(app: string, id: string): boolean;
  forceDeleteApp(app: string): boolean;
}

/**
 * The Fly Machines API stand-in (paths `/v1/...`). Rate limits per the docs: 1 request/s per
 * action per machine (or app), bursts of 3; Get Machine 5/s with bursts of 10; app deletions
 * 100 per minute. The docs name no rate-limit headers, so none are sent. The logs API
 * (`/api/v1/apps/{app}/logs`, normally on another host) is served here too.
 */
export function flyApi(env: SandboxEnv): FlyApi {
  const machines = machineRoutes(env);
  const destroyApp = (app: FlyApp): void => {
    for (const m of env.world.fly.machines.values()) if (m.app === app.name && m.state !== "destroyed") machines.destroyNow(m);
    for (const m of [...env.world.fly.machines.values()]) if (m.app === app.name) env.world.fly.machines.delete(m.id);
    for (const v of [...env.world.fly.volumes.values()]) if (v.app === app.name) env.world.fly.volumes.delete(v.id);
    for (const [key, s] of [...env.world.fly.secrets]) if (s.app === app.name) env.world.fly.secrets.delete(key);
    env.world.fly.apps.delete(app.name);
    forgetLogs(env, app.name);
    env.world.changed();
  };
  const s = env.rateScale;
  const actions = new BucketMap(3, 1 * s);
  const gets = new BucketMap(10, 5 * s);
  const appDeletes = new Map<string, TokenBucket>();
  const tooMany = (): Reply => flyError(429, "rate limit exceeded");
  return {
    provider: "fly",
    routes: [...appRoutes(env, destroyApp), ...machines.routes, ...volumeRoutes(env), ...secretRoutes(env), ...logRoutes(env), ...execRoutes(env), ...platformRoutes(env)],
    limit(token, route: MatchedRoute | null, now): Limit {
      if (!env.rateLimits || !route) return { headers: {} };
      const name = route.route.name;
      // The logs API is another host (api.fly.io) without the Machines API's per-machine budget.
      if (name === "logs") return { headers: {} };
      if (name === "apps.delete") {
        const key = token ?? "anonymous";
        let bucket = appDeletes.get(key);
        if (!bucket) appDeletes.set(key, (bucket = new TokenBucket(100, (100 / 60) * s, now)));
        return bucket.take(now) ? { headers: {} } : { headers: {}, blocked: tooMany() };
      }
      // The documented limits are per machine or per app; org-level calls (create/list apps, list
      // org machines, regions) have none.
      const target = route.params.id ?? route.params.app;
      if (target === undefined) return { headers: {} };
      const ok = name === "machines.get" ? gets.take(`${target}`, now).ok : actions.take(`${name}:${target}`, now).ok;
      return ok ? { headers: {} } : { headers: {}, blocked: tooMany() };
    },
    storm: () => tooMany(),
    error: (status, message, field) => flyError(status, message ?? (field ? `invalid ${field}` : status >= 500 ? "internal server error" : status === 408 ? "request timeout" : "error")),
    unauthorized: () => flyError(401, "You must be authenticated to view this."),
    notFound: () => flyError(404, "Not Found"),
    badJson: () => flyError(400, "invalid JSON in request body"),
    forceDeleteMachine(app, id) {
      const m = env.world.fly.machines.get(id);
      if (!m || m.app !== app || m.state === "destroyed") return false;
      machines.destroyNow(m);
      return true;
    },
    forceDeleteApp(name) {
      const app = env.world.fly.apps.get(name);
      if (!app) return false;
      destroyApp(app);
      return true;
    },
  };
}
