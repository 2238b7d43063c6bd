import { join, dirname } from "node:path";
import type { SandboxEnv } from "../env.js";
import type { Limit } from "../http.js";
import type { StandIn } from "../stand-in.js";
import { SANDBOX_BUCKET } from "../credentials.js";
import { Containers, PROVIDER } from "./containers.js";
import { bridgeRoutes } from "./routes.js";
import { seedCloudflareUsers } from "./seed.js";
import { cfError, invalidRequest, SANDBOX_ID } from "./state.js";

export { seededSandboxId } from "./seed.js";

/** Where `sandbox up --seed-cloudflare N` writes the seeded users' mapping, in the world directory. */
export const SEED_MAPPING = "cloudflare-sandbox-users.csv";

/**
 * The Cloudflare Sandbox bridge stand-in (the Worker template's routes under /v1 and /health):
 * Bearer auth with one shared key, `{error, code}` bodies, IDs checked before auth, containers
 * that start on the first request for an ID, mount the Worker's bucket prefix, run the agent, and
 * sleep after the idle time with their disk gone. The bridge documents no rate limit.
 * Admin: `DELETE /cloudflare-sandbox/containers/{id}` puts a sandbox to sleep now.
 */
export function cloudflareSandboxStandIn(env: SandboxEnv): StandIn {
  const c = new Containers(env);
  return {
    provider: PROVIDER,
    routes: bridgeRoutes(c),
    limit: (): Limit => ({ headers: {} }),
    storm: () => cfError(503, "capacity_exceeded", "Cannot start container: instance limit reached. All container slots are in use. Wait for existing containers to stop."),
    error: (status, message) => cfError(status, status === 503 ? "capacity_exceeded" : status >= 500 ? "pool_error" : status === 404 ? "workspace_read_not_found" : "invalid_request", message ?? (status >= 500 ? "pool error: Failed to start container" : "invalid request")),
    unauthorized: () => cfError(401, "unauthorized", "Unauthorized"),
    notFound: () => cfError(404, "invalid_request", "Not Found"),
    badJson: () => invalidRequest("request body must be valid JSON"),
    precheck(_method, path) {
      const m = /^\/v1\/sandbox\/([^/]+)(?:\/|$)/.exec(path);
      return m && !SANDBOX_ID.test(decodeURIComponent(m[1]!)) ? invalidRequest("sandbox id must match [a-z2-7]{1,128}") : undefined;
    },
    addressesInUse: () => Object.values(c.world.sandboxes).flatMap((s) => (s.container ? [s.container.address] : [])),
    resumeHosts: () => c.resume(),
    facts(id) {
      const sb = c.world.sandboxes[id];
      if (!sb?.container) return undefined;
      // No SSH: the bridge is the only way in. An image without the agent's CMD runs only the control plane.
      return { authorizedKeys: [], userData: null, held: !sb.agentOnBoot };
    },
    summary: () => ({
      sleepAfterMs: c.world.sleepAfterMs, maxInstances: c.world.maxInstances,
      sandboxes: Object.values(c.world.sandboxes).map((s) => ({ id: s.id, running: s.container !== null, starts: s.starts, mounts: s.mounts.map((m) => `${m.bucket}/${m.prefix} at ${m.mountPath}`) })),
    }),
    adminDelete([kind, id, ...rest]) {
      if (kind !== "containers" || !id || rest.length) return undefined;
      if (!c.world.sandboxes[id]?.container) return false;
      void c.delete(id);
      return true;
    },
    seed: async (count) => {
      const users = await seedCloudflareUsers(c.world, c.store(), SANDBOX_BUCKET, count, join(dirname(env.world.file), SEED_MAPPING));
      env.world.changed();
      return { mapping: join(dirname(env.world.file), SEED_MAPPING), users: users.map((u) => u.user) };
    },
  };
}
