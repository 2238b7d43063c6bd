import { spawn } from "node:child_process";
import { randomBytes } from "node:crypto";
import { mkdir, readFile, writeFile } from "node:fs/promises";
import { dirname } from "node:path";
import { shellJoin, shellQuote } from "../../lib/known-hosts.js";
import type { ApiRequest, Reply, Route } from "../http.js";
import { isPlainObject } from "../util.js";
import { insideWorkspace, workspacePath, type Containers } from "./containers.js";
import { base32 } from "../../lib/base32.js";
import { cfError, invalidRequest, SESSION_ID, type CfMount, type CfSandbox } from "./state.js";

/** File writes and hydrate bodies: at most 32 MiB (the bridge's limit). */
export const BODY_LIMIT = 32 * 1024 * 1024;
/** Output goes out in SSE events of at most this many bytes (before base64). */
const CHUNK = 64 * 1024;

const isReply = (v: CfSandbox | Reply): v is Reply => typeof (v as Reply).status === "number";

/** One server-sent event as the bridge frames them. */
const event = (name: string, data: string): string => `event: ${name}\ndata: ${data}\n\n`;

/** The bridge's routes under /v1 and /health, over the containers. */
export function bridgeRoutes(c: Containers): Route[] {
  /** Every /v1/sandbox/{id}/* route but DELETE assigns a container first (waking a sleeping sandbox). */
  const withContainer = (fn: (sb: CfSandbox, req: ApiRequest) => Promise<Reply> | Reply) => async (req: ApiRequest): Promise<Reply> => {
    const session = req.headers["session-id"];
    if (session !== undefined && !SESSION_ID.test(String(session))) return invalidRequest("Session-Id must match [a-zA-Z0-9._-]{1,128}");
    const sb = await c.touch(req.params.id!);
    return isReply(sb) ? sb : fn(sb, req);
  };
  const hostDir = (sb: CfSandbox): string => c.hostOf(sb).dir;

  const exec = withContainer(async (sb, req) => {
    const b = req.body;
    if (!isPlainObject(b) || !Array.isArray(b.argv) || !b.argv.length || !b.argv.every((a) => typeof a === "string")) return invalidRequest("argv must be a non-empty array");
    if (b.timeout_ms !== undefined && (!Number.isInteger(b.timeout_ms) || (b.timeout_ms as number) <= 0)) return invalidRequest("timeout_ms must be a positive integer");
    if (b.cwd !== undefined && typeof b.cwd !== "string") return invalidRequest("cwd must be a string");
    if (typeof b.cwd === "string" && !insideWorkspace(b.cwd)) return cfError(403, "invalid_request", "cwd must resolve to a location within /workspace");
    const host = c.handle(sb);
    if (!host) return cfError(502, "exec_transport_error", "exec failed: the container has no command runtime (sandbox runs with health endpoints only)");
    const cwd = typeof b.cwd === "string" ? workspacePath(c.hostOf(sb), b.cwd) : undefined;
    const command = `${cwd ? `cd ${shellQuote(cwd)} && ` : ""}${shellJoin(b.argv as string[])}`;
    const timeoutMs = typeof b.timeout_ms === "number" ? b.timeout_ms : undefined;
    return {
      status: 200,
      stream: {
        contentType: "text/event-stream",
        write: (out) => c.during(sb, async () => {
          try {
            // Events go out as the command writes, as the bridge's do.
            const r = await host.exec(command, {
              ...(timeoutMs ? { timeoutMs } : {}),
              onOutput: (name, data) => {
                for (let at = 0; at < data.length; at += CHUNK) out.write(event(name, data.subarray(at, at + CHUNK).toString("base64")));
              },
            });
            await c.flush(sb);
            out.write(event("exit", JSON.stringify({ exit_code: r.exitCode })));
          } catch (error) {
            out.write(event("error", JSON.stringify({ error: `exec failed: ${(error as Error).message}`, code: "exec_error" })));
          }
        }),
      },
    };
  });

  const filePath = (sb: CfSandbox, path: string): string | Reply => {
    const absolute = `/${path}`;
    if (!insideWorkspace(absolute)) return cfError(403, "invalid_request", "path must resolve to a location within /workspace");
    return workspacePath(c.hostOf(sb), absolute) ?? cfError(403, "invalid_request", "path must resolve to a location within /workspace");
  };

  const tar = (args: string[], input?: Buffer): Promise<{ code: number; stdout: Buffer; stderr: string }> => new Promise((resolve) => {
    const child = spawn("tar", args, { stdio: ["pipe", "pipe", "pipe"] });
    const out: Buffer[] = [];
    let err = "";
    child.stdout.on("data", (d: Buffer) => out.push(d));
    child.stderr.on("data", (d: Buffer) => (err += d.toString()));
    child.on("error", (e) => resolve({ code: 127, stdout: Buffer.alloc(0), stderr: e.message }));
    child.on("close", (code) => resolve({ code: code ?? 1, stdout: Buffer.concat(out), stderr: err }));
    child.stdin.end(input ?? Buffer.alloc(0));
  });

  const mountOf = (b: unknown): CfMount | Reply => {
    if (!isPlainObject(b)) return invalidRequest("body must be a JSON object");
    if (typeof b.mountPath !== "string" || !b.mountPath.startsWith("/")) return invalidRequest("mountPath must be an absolute path");
    if (!isPlainObject(b.options)) return invalidRequest("options is required");
    const o = b.options;
    if (b.binding !== undefined && (b.bucket !== undefined || o.endpoint !== undefined)) return invalidRequest("binding and bucket/options.endpoint are mutually exclusive");
    if (typeof b.binding === "string") return cfError(502, "mount_error", `mount failed: the Worker has no R2 binding named ${b.binding}`);
    if (typeof b.bucket !== "string" || !b.bucket) return invalidRequest("bucket is required for an endpoint mount");
    if (o.prefix !== undefined && (typeof o.prefix !== "string" || !o.prefix.startsWith("/"))) return invalidRequest("options.prefix must start with /");
    const prefix = typeof o.prefix === "string" ? o.prefix.replace(/\/+$/, "").replace(/^\/+/, "") : "";
    return { bucket: b.bucket, prefix: prefix ? `${prefix}/` : "", mountPath: b.mountPath.replace(/(.)\/+$/, "$1"), readOnly: o.readOnly === true };
  };

  return [
    {
      method: "POST", pattern: "/v1/sandbox", name: "sandbox.create",
      handler: () => ({ status: 200, body: { id: base32(randomBytes(16)) } }),
    },
    { method: "POST", pattern: "/v1/sandbox/:id/exec", name: "sandbox.exec", handler: exec },
    {
      method: "GET", pattern: "/v1/sandbox/:id/running", name: "sandbox.running",
      handler: withContainer((sb) => ({ status: 200, body: { running: c.handle(sb)?.running() ?? sb.container !== null } })),
    },
    {
      method: "GET", pattern: "/v1/sandbox/:id/file/:path*", name: "sandbox.file.read",
      handler: withContainer(async (sb, req) => {
        const path = filePath(sb, req.params.path!);
        if (typeof path !== "string") return path;
        try {
          return { status: 200, raw: { contentType: "application/octet-stream", data: await readFile(path) } };
        } catch {
          return cfError(404, "workspace_read_not_found", `file not found: /${req.params.path!}`);
        }
      }),
    },
    {
      method: "PUT", pattern: "/v1/sandbox/:id/file/:path*", name: "sandbox.file.write", raw: BODY_LIMIT,
      handler: withContainer(async (sb, req) => {
        if (req.raw === null) return cfError(413, "payload_too_large", `file too large: the limit is ${BODY_LIMIT} bytes`);
        const path = filePath(sb, req.params.path!);
        if (typeof path !== "string") return path;
        await mkdir(dirname(path), { recursive: true });
        await writeFile(path, req.raw ?? Buffer.alloc(0));
        await c.flush(sb);
        return { status: 200, body: { ok: true } };
      }),
    },
    {
      method: "POST", pattern: "/v1/sandbox/:id/persist", name: "sandbox.persist",
      handler: withContainer(async (sb, req) => {
        const excludes = (req.query.get("excludes") ?? "").split(",").map((e) => e.trim()).filter(Boolean);
        if (excludes.some((e) => e.split("/").includes(".."))) return invalidRequest('exclude paths must not contain ".."');
        const r = await tar(["-C", hostDir(sb), "-cf", "-", "--exclude", "./.host", ...excludes.flatMap((e) => ["--exclude", `./${e}`]), "."]);
        if (r.code !== 0) return cfError(502, "workspace_archive_read_error", `tar failed (exit ${r.code}): ${r.stderr.trim().slice(0, 200)}`);
        return { status: 200, raw: { contentType: "application/octet-stream", data: r.stdout } };
      }),
    },
    {
      method: "POST", pattern: "/v1/sandbox/:id/hydrate", name: "sandbox.hydrate", raw: BODY_LIMIT,
      handler: withContainer(async (sb, req) => {
        if (req.raw === null) return invalidRequest(`tar payload too large: it exceeds the ${BODY_LIMIT}-byte limit`);
        if (!req.raw?.length) return invalidRequest("request body is empty");
        const r = await tar(["-C", hostDir(sb), "-xf", "-"], req.raw);
        if (r.code !== 0) return cfError(502, "workspace_archive_write_error", `tar extract failed (exit ${r.code}): ${r.stderr.trim().slice(0, 200)}`);
        await c.flush(sb);
        return { status: 200, body: { ok: true } };
      }),
    },
    {
      method: "POST", pattern: "/v1/sandbox/:id/mount", name: "sandbox.mount",
      handler: withContainer(async (sb, req) => {
        const mount = mountOf(req.body);
        if ("status" in mount) return mount;
        if (!insideWorkspace(mount.mountPath)) return cfError(502, "mount_error", `mount failed: the sandbox's containers mount only under /workspace, not ${mount.mountPath}`);
        return (await c.mount(sb, mount)) ?? { status: 200, body: { ok: true } };
      }),
    },
    {
      method: "POST", pattern: "/v1/sandbox/:id/unmount", name: "sandbox.unmount",
      handler: withContainer(async (sb, req) => {
        const b = req.body;
        if (!isPlainObject(b) || typeof b.mountPath !== "string" || !b.mountPath.startsWith("/")) return invalidRequest("mountPath must be an absolute path");
        if (b.mountPath === "/") return invalidRequest("refusing to unmount /");
        return (await c.unmount(sb, b.mountPath.replace(/(.)\/+$/, "$1"))) ?? { status: 200, body: { ok: true } };
      }),
    },
    {
      method: "POST", pattern: "/v1/sandbox/:id/session", name: "sandbox.session.create",
      handler: withContainer((sb, req) => {
        const b = isPlainObject(req.body) ? req.body : {};
        if (b.id !== undefined && (typeof b.id !== "string" || !SESSION_ID.test(b.id))) return invalidRequest("id must match [a-zA-Z0-9._-]{1,128}");
        if (b.cwd !== undefined && (typeof b.cwd !== "string" || !insideWorkspace(b.cwd))) return cfError(403, "invalid_request", "cwd must resolve to a location within /workspace");
        const id = typeof b.id === "string" ? b.id : `session-${randomBytes(6).toString("hex")}`;
        if (!sb.sessions.includes(id)) sb.sessions.push(id);
        return { status: 200, body: { id } };
      }),
    },
    {
      method: "DELETE", pattern: "/v1/sandbox/:id/session/:sid", name: "sandbox.session.delete",
      handler: withContainer((sb, req) => {
        const known = sb.sessions.includes(req.params.sid!);
        if (!known) return cfError(502, "session_error", `session ${req.params.sid!} not found`);
        sb.sessions = sb.sessions.filter((s) => s !== req.params.sid);
        return { status: 200, body: { success: true, sessionId: req.params.sid!, timestamp: new Date().toISOString() } };
      }),
    },
    ...(["POST", "DELETE"] as const).map((method): Route => ({
      method, pattern: "/v1/sandbox/:id/tunnel/:port", name: `sandbox.tunnel.${method.toLowerCase()}`,
      handler: withContainer(() => cfError(502, "tunnel_error", "tunnel failed: the sandbox does not simulate Cloudflare tunnels")),
    })),
    {
      method: "GET", pattern: "/v1/sandbox/:id/pty", name: "sandbox.pty",
      handler: () => invalidRequest("this route is a WebSocket: send Upgrade: websocket (not simulated by the sandbox)"),
    },
    {
      // Never allocates: looks the ID up and stops its container, 204 even for an unknown ID.
      method: "DELETE", pattern: "/v1/sandbox/:id", name: "sandbox.delete",
      handler: async (req) => {
        await c.delete(req.params.id!);
        return { status: 204 };
      },
    },
    { method: "GET", pattern: "/health", name: "health", open: true, handler: () => ({ status: 200, body: { ok: true } }) },
    {
      method: "GET", pattern: "/v1/pool/stats", name: "pool.stats", handler: () => {
        const assigned = Object.values(c.world.sandboxes).filter((s) => s.container).length;
        const maxInstances = c.world.maxInstances;
        return { status: 200, body: { warm: 0, assigned, total: assigned, config: { warmTarget: 0, refreshInterval: 10000, maxInstances, scaleBatchSize: 5 }, maxInstances } };
      },
    },
    { method: "POST", pattern: "/v1/pool/prime", name: "pool.prime", handler: () => ({ status: 200, body: { ok: true } }) },
    { method: "POST", pattern: "/v1/pool/shutdown-prewarmed", name: "pool.shutdown", handler: () => ({ status: 200, body: { ok: true } }) },
  ];
}

