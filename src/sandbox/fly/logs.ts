import type { SandboxEnv } from "../env.js";
import { isReply, type Route } from "../http.js";
import { ulid } from "../util.js";
import { findApp } from "./apps.js";
import { badRequest } from "./common.js";

/**
 * The Fly logs API (`GET /api/v1/apps/{app}/logs?next_token=&instance=&region=`, the call
 * flyctl polls), served on the Machines port. Lines come from machine lifecycle events and
 * from `flyLog()` (host modules can append what the agent prints). Kept in memory, the last
 * 1000 lines per app; `next_token` is the position after the last line returned.
 */
interface LogLine {
  seq: number;
  id: string;
  timestamp: string;
  message: string;
  level: string;
  instance: string;
  region: string;
}

const PER_APP = 1000;
const PAGE = 100;
const logs = new WeakMap<SandboxEnv, { seq: number; byApp: Map<string, LogLine[]> }>();

function store(env: SandboxEnv): { seq: number; byApp: Map<string, LogLine[]> } {
  let s = logs.get(env);
  if (!s) logs.set(env, (s = { seq: 0, byApp: new Map() }));
  return s;
}

/** Appends one log line for a machine of an app (`timestamp`: the agent's own, else now). */
export function flyLog(env: SandboxEnv, app: string, instance: string, region: string, message: string, level = "info", timestamp?: string): void {
  const s = store(env);
  let lines = s.byApp.get(app);
  if (!lines) s.byApp.set(app, (lines = []));
  const now = new Date();
  lines.push({ seq: ++s.seq, id: ulid(now.getTime()), timestamp: timestamp ?? now.toISOString(), message, level, instance, region });
  if (lines.length > PER_APP) lines.splice(0, lines.length - PER_APP);
}

export function forgetLogs(env: SandboxEnv, app: string): void {
  store(env).byApp.delete(app);
}

export function logRoutes(env: SandboxEnv): Route[] {
  return [{
    method: "GET", pattern: "/api/v1/apps/:app/logs", name: "logs", handler: (req) => {
      const app = findApp(env, req);
      if (isReply(app)) return app;
      const token = req.query.get("next_token");
      let after = 0;
      if (token) {
        after = Number(Buffer.from(token, "base64url").toString("utf8"));
        if (!Number.isInteger(after) || after < 0) return badRequest("invalid next_token");
      }
      const instance = req.query.get("instance");
      const region = req.query.get("region");
      const lines = (store(env).byApp.get(app.name) ?? []).filter((l) => l.seq > after && (!instance || l.instance === instance) && (!region || l.region === region)).slice(0, PAGE);
      const last = lines.at(-1)?.seq ?? after;
      return {
        status: 200,
        body: {
          data: lines.map((l) => ({
            id: l.id, type: "logs",
            attributes: { timestamp: l.timestamp, message: l.message, level: l.level, instance: l.instance, region: l.region, meta: { event: { provider: "app" } } },
          })),
          meta: { next_token: Buffer.from(String(last)).toString("base64url") },
        },
      };
    },
  }];
}
