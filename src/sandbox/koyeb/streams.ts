import { PassThrough } from "node:stream";
import { shellJoin } from "../../lib/known-hosts.js";
import type { SandboxEnv } from "../env.js";
import { formatTimestamp, type LogEntry } from "../host/agent-log.js";
import type { HostHandle } from "../host/index.js";
import type { Reply, Route, UpgradeRequest } from "../http.js";
import { isPlainObject } from "../util.js";
import { invalid, koyebWorld, type KService } from "./state.js";
import { acceptJsonSocket, type JsonSocket } from "./ws.js";

/** Output goes out in frames of at most this many bytes (before base64). */
const CHUNK = 64 * 1024;

function fixedWidth(iso: string | null, fallbackMs: number): string {
  const ms = iso ? Date.parse(iso) : fallbackMs;
  return formatTimestamp(BigInt(Number.isFinite(ms) ? ms : fallbackMs) * 1_000_000n);
}

/**
 * Logs (`GET /v1/streams/logs/query`, `GET /v1/streams/logs/tail` as a WebSocket) and exec (`GET
 * /v1/streams/instances/exec`, WebSocket only), framed as koyeb-cli speaks them: JSON text
 * messages, exec's first `{id, idType, body:{command}}` then `{body:{stdin:{data, close}}}`; the
 * server answers `{result:{stdout|stderr:{data, close}, exited, exit_code}}` or `{error}`.
 * The simulated host starts a command on the first frame and feeds it the stdin frames as they
 * come; its output frames go out while it runs.
 */
export function streamRoutes(env: SandboxEnv, hostOf: (s: KService) => HostHandle | undefined): { routes: Route[]; upgrade(u: UpgradeRequest): void } {
  const w = koyebWorld(env);
  const serviceOf = (q: URLSearchParams): KService | undefined => {
    const sid = q.get("service_id");
    if (sid) return w.services[sid];
    const iid = q.get("instance_ids") ?? q.get("instance_id");
    const instance = iid ? w.instances[iid] : undefined;
    return instance ? w.services[instance.serviceId] : undefined;
  };
  const labels = (s: KService): Record<string, string> => {
    const instance = Object.values(w.instances).find((i) => i.serviceId === s.id && i.deploymentId === s.activeDeploymentId);
    return { stream: "stdout", type: "runtime", service_id: s.id, app_id: s.appId, organization_id: w.orgId, instance_id: instance?.id ?? "" };
  };
  const entry = (s: KService, e: LogEntry): Record<string, unknown> => ({ msg: e.line, created_at: e.time, labels: labels(s) });
  const wsOnly = (): Reply => invalid("connection", "this endpoint is a WebSocket: send Upgrade: websocket");

  const routes: Route[] = [
    {
      method: "GET", pattern: "/v1/streams/logs/query", name: "logs.query", handler: async (req) => {
        const s = serviceOf(req.query);
        if (!s) return invalid("service_id", "a service_id or instance_ids is required");
        const limit = Number(req.query.get("limit") ?? 100);
        if (!Number.isInteger(limit) || limit < 1 || limit > 1000) return invalid("limit", "must be between 1 and 1000");
        const host = hostOf(s);
        const since = fixedWidth(req.query.get("start"), Date.now() - 15 * 60_000);
        const until = req.query.get("end") ? fixedWidth(req.query.get("end"), Date.now()) : undefined;
        const all = host ? await host.logs({ since, ...(until ? { until } : {}) }) : [];
        const desc = req.query.get("order") === "desc";
        const ordered = desc ? [...all].reverse() : all;
        const data = ordered.slice(0, limit);
        const more = ordered.length > limit;
        const last = data.at(-1);
        return {
          status: 200,
          body: {
            data: data.map((e) => entry(s, e)),
            pagination: { has_more: more, next_start: more && last && !desc ? last.time : "", next_end: more && last && desc ? last.time : "" },
          },
        };
      },
    },
    { method: "GET", pattern: "/v1/streams/logs/tail", name: "logs.tail", handler: wsOnly },
    { method: "GET", pattern: "/v1/streams/instances/exec", name: "instances.exec", handler: wsOnly },
  ];

  const tail = (u: UpgradeRequest, ws: JsonSocket): void => {
    const s = serviceOf(u.query);
    const host = s ? hostOf(s) : undefined;
    if (!s || !host) {
      ws.send({ error: { status: 404, code: "unknown_resource", message: "no running instance for this service" } });
      return ws.close(1000);
    }
    const since = fixedWidth(u.query.get("start"), Date.now() - 24 * 3600_000);
    let live = false;
    const queued: LogEntry[] = [];
    const unsubscribe = host.subscribeLogs((e) => (live ? ws.send({ result: entry(s, e) }) : queued.push(e)));
    ws.onClose(unsubscribe);
    void host.logs({ since }).then((old) => {
      const seen = old.at(-1)?.time ?? "";
      for (const e of old) ws.send({ result: entry(s, e) });
      for (const e of queued) if (e.time > seen) ws.send({ result: entry(s, e) });
      live = true;
      if (u.dropAfterOpen) ws.drop();
    });
  };

  const exec = (u: UpgradeRequest, ws: JsonSocket): void => {
    // What the command reads: stdin frames as they come, ended by one with close (or the socket's).
    let stdin: PassThrough | undefined;
    const fail = (message: string): void => {
      ws.send({ error: { status: 400, code: "invalid_argument", message } });
      ws.close(1000);
    };
    ws.onClose(() => stdin?.end());
    ws.onMessage((m) => {
      if (ws.closed) return;
      if (stdin) {
        const input = isPlainObject(m) && isPlainObject(m.body) && isPlainObject(m.body.stdin) ? m.body.stdin : undefined;
        if (!input || stdin.writableEnded) return;
        if (typeof input.data === "string" && input.data) stdin.write(Buffer.from(input.data, "base64"));
        if (input.close === true) stdin.end();
        return;
      }
      if (!isPlainObject(m) || typeof m.id !== "string" || (m.idType !== "INSTANCE_ID" && m.idType !== "SERVICE_ID")) return fail("the first frame needs id and idType (INSTANCE_ID or SERVICE_ID)");
      const body = m.body;
      if (!isPlainObject(body) || !Array.isArray(body.command) || !body.command.length || !body.command.every((c) => typeof c === "string")) return fail("body.command must be a non-empty array of strings");
      const instance = m.idType === "INSTANCE_ID" ? w.instances[m.id] : undefined;
      const service = m.idType === "SERVICE_ID" ? w.services[m.id] : instance ? w.services[instance.serviceId] : undefined;
      if (!service || (instance && instance.status !== "HEALTHY")) return fail(`${m.idType === "SERVICE_ID" ? "service" : "instance"} ${m.id} has no running instance`);
      // A fault: the connection goes away once the command was accepted (mid-exec).
      if (u.dropAfterOpen) return ws.drop();
      // The command starts now, as Koyeb's does, and reads its input as the frames bring it (an
      // interactive shell answers each line), not once the whole input has come.
      const input = (stdin = new PassThrough());
      void runCommand(service, body.command as string[], input).catch((error: unknown) => fail(String(error)));
    });
    const runCommand = async (service: KService, command: string[], input: PassThrough): Promise<void> => {
      // A deployment that has just become healthy may still be bringing its host up.
      if (!hostOf(service)?.running()) await env.hosts.settle();
      const h = hostOf(service);
      if (!h?.running()) return fail(`the instance of service ${service.name} is not running`);
      // Output frames go out as the command writes, as Koyeb's do.
      const r = await h.exec(shellJoin(command), {
        stdin: input, timeoutMs: 30 * 60_000,
        onOutput: (name, data) => {
          if (ws.closed) return;
          for (let at = 0; at < data.length; at += CHUNK) ws.send({ result: { [name]: { data: data.subarray(at, at + CHUNK).toString("base64"), close: false }, exited: false } });
        },
      });
      if (ws.closed) return;
      ws.send({ result: { stdout: { data: "", close: true }, stderr: { data: "", close: true }, exited: true, exit_code: r.exitCode } });
      ws.close(1000);
    };
  };

  return {
    routes,
    upgrade(u) {
      const ws = acceptJsonSocket(u);
      if (u.path === "/v1/streams/instances/exec") exec(u, ws);
      else tail(u, ws);
    },
  };
}
