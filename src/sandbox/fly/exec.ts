import { constants } from "node:os";
import { shellJoin } from "../../lib/known-hosts.js";
import type { SandboxEnv } from "../env.js";
import { isReply, type Route } from "../http.js";
import { isPlainObject } from "../util.js";
import { findApp } from "./apps.js";
import { badRequest, flyError } from "./common.js";

/** Fly's default when a request names no timeout (seconds). */
const DEFAULT_TIMEOUT_S = 30;

/**
 * `POST /v1/apps/{app}/machines/{id}/exec {command, timeout, stdin, container}` ->
 * `{exit_code, exit_signal, stdout, stderr}`: runs argv in the machine's simulated host (the
 * same host its logs and health come from). Output comes back as JSON strings, like Fly's:
 * bytes that are not UTF-8 do not survive.
 */
export function execRoutes(env: SandboxEnv): Route[] {
  return [{
    method: "POST", pattern: "/v1/apps/:app/machines/:id/exec", name: "machines.exec", handler: async (req) => {
      const app = findApp(env, req);
      if (isReply(app)) return app;
      const m = env.world.fly.machines.get(req.params.id!);
      if (!m || m.app !== app.name) return flyError(404, "machine not found");
      const b = req.body;
      if (!isPlainObject(b)) return badRequest("request body must be a JSON object");
      let argv: string[];
      if (b.command !== undefined) {
        if (!Array.isArray(b.command) || b.command.length === 0 || !b.command.every((w) => typeof w === "string")) return badRequest("command must be a non-empty array of strings");
        argv = b.command as string[];
      } else if (typeof b.cmd === "string" && b.cmd.trim() !== "") argv = ["sh", "-c", b.cmd];
      else return badRequest("command is required");
      if (b.stdin !== undefined && typeof b.stdin !== "string") return badRequest("stdin must be a string");
      if (b.timeout !== undefined && (!Number.isInteger(b.timeout) || (b.timeout as number) < 1)) return badRequest("timeout must be a positive number of seconds");
      if (b.container !== undefined && typeof b.container !== "string") return badRequest("container must be a string");
      if (m.state !== "started") return badRequest(`failed_precondition: machine ${m.id} is ${m.state}, not started`);
      // A machine that has just reached "started" may still be booting its host: wait for that.
      if (!env.sim?.handle(`fly:${m.id}`)?.running()) await env.hosts.settle();
      const host = env.sim?.handle(`fly:${m.id}`);
      if (!host || !host.running()) {
        const why = env.sim?.failure(`fly:${m.id}`) ?? (env.sim ? "its host is not running" : "this sandbox runs without simulated hosts");
        return badRequest(`failed_precondition: machine ${m.id} is not reachable (${why})`);
      }
      const result = await host.exec(shellJoin(argv), { ...(typeof b.stdin === "string" ? { stdin: b.stdin } : {}), timeoutMs: ((b.timeout as number | undefined) ?? DEFAULT_TIMEOUT_S) * 1000 });
      return {
        status: 200,
        body: {
          exit_code: result.exitCode,
          ...(result.signal ? { exit_signal: constants.signals[result.signal as keyof typeof constants.signals] ?? 0 } : {}),
          stdout: result.stdout.toString("utf8"),
          stderr: result.stderr.toString("utf8"),
        },
      };
    },
  }];
}
