import { createServer, type Server } from "node:http";
import type { SandboxEnv } from "./env.js";
import { validateFaultSpec, type FaultRule, type FaultSpec, type Faults } from "./faults.js";
import type { RequestRecord } from "./http.js";
import type { SandboxProvider } from "./util.js";
import type { StandIn } from "./stand-in.js";
import { listen } from "./util.js";

/** What the admin endpoint can do to the running sandbox. */
export interface AdminActions {
  env: SandboxEnv;
  faults: Faults;
  log: RequestRecord[];
  warnings: string[];
  urls(): Record<string, string>;
  reset(): Promise<void>;
  standIns: ReadonlyMap<SandboxProvider, StandIn>;
  /** Resets the open connections to `provider`'s hosts (an outage began). */
  cutOff(provider: SandboxProvider): void;
}

/** A compact view of the world (never the token, never secret values or user data). */
export function worldSummary(env: SandboxEnv, standIns: ReadonlyMap<SandboxProvider, StandIn>): Record<string, unknown> {
  return {
    counts: env.world.counts(),
    ...Object.fromEntries([...standIns].map(([id, s]) => [id, s.summary()])),
    hosts: env.hosts.running().map((h) => ({ key: h.key, name: h.name, address: h.address })),
  };
}

function send(res: import("node:http").ServerResponse, status: number, body: unknown): void {
  const text = JSON.stringify(body);
  res.writeHead(status, { "content-type": "application/json", "content-length": String(Buffer.byteLength(text)) });
  res.end(text);
}

/**
 * The admin HTTP API (loopback only, no auth, never shows the token):
 * `GET /health`, `GET /world`, `GET /requests[?provider=]`, `GET|POST /faults`, `POST /reset`,
 * `POST /outage/{provider}` (body `{durationMs?, reset?, status?}`: adds an outage rule to those in
 * force) and `DELETE /outage/{provider}` (ends it),
 * and each stand-in's deletes behind automna's back (StandIn.adminDelete): `DELETE
 * /hetzner/servers/{id}`, `DELETE /digitalocean/droplets/{id}`, `DELETE /fly/apps/{app}`,
 * `DELETE /fly/apps/{app}/machines/{id}` and the like.
 */
export function createAdminServer(admin: AdminActions): Server {
  return createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on("data", (c: Buffer) => chunks.push(c));
    req.on("end", () => {
      void (async () => {
        const url = new URL(req.url ?? "/", "http://admin");
        const parts = url.pathname.split("/").filter(Boolean);
        const method = req.method ?? "GET";
        const route = `${method} /${parts.join("/")}`;
        const standIn = admin.standIns.get(parts[0] as SandboxProvider);
        try {
          switch (route) {
            case "GET /health":
              return send(res, 200, { ok: true, pid: process.pid, urls: admin.urls() });
            case "GET /world":
              return send(res, 200, { ...worldSummary(admin.env, admin.standIns), warnings: admin.warnings.slice(-50) });
            case "GET /requests": {
              const provider = url.searchParams.get("provider") as SandboxProvider | null;
              return send(res, 200, { requests: admin.log.filter((r) => !provider || r.provider === provider) });
            }
            case "GET /faults":
              return send(res, 200, { rules: admin.faults.list() });
            case "POST /faults": {
              let spec: unknown;
              try {
                spec = chunks.length ? JSON.parse(Buffer.concat(chunks).toString("utf8")) : {};
              } catch {
                return send(res, 400, { error: "body is not valid JSON" });
              }
              const problem = validateFaultSpec(spec);
              if (problem) return send(res, 400, { error: problem });
              admin.faults.set(spec as FaultSpec);
              for (const rule of admin.faults.outages()) admin.cutOff(rule.provider!);
              return send(res, 200, { rules: admin.faults.list() });
            }
            case "POST /reset":
              await admin.reset();
              return send(res, 200, { ok: true });
            default: {
              if (parts[0] === "outage" && parts.length === 2) return outage(admin, method, parts[1]!, chunks, res);
              const deleted = method === "DELETE" && standIn ? standIn.adminDelete(parts.slice(1)) : undefined;
              if (deleted !== undefined) return deleted ? send(res, 200, { deleted: true }) : send(res, 404, { error: `no such ${parts.at(-2)?.replace(/s$/, "") ?? "resource"}` });
              return send(res, 404, { error: `no admin route ${method} ${url.pathname}` });
            }
          }
        } catch (error) {
          return send(res, 500, { error: (error as Error).message });
        }
      })();
    });
  });
}

/** `POST /outage/{provider}` starts an outage (on top of the other faults); `DELETE` ends it. */
function outage(admin: AdminActions, method: string, provider: string, chunks: Buffer[], res: import("node:http").ServerResponse): void {
  if (method === "DELETE") {
    const ended = admin.faults.endOutage(provider as SandboxProvider);
    return send(res, 200, { provider, ended, rules: admin.faults.list() });
  }
  if (method !== "POST") return send(res, 405, { error: `use POST or DELETE on /outage/${provider}` });
  let body: unknown;
  try {
    body = chunks.length ? JSON.parse(Buffer.concat(chunks).toString("utf8")) : {};
  } catch {
    return send(res, 400, { error: "body is not valid JSON" });
  }
  const rule = { ...(body !== null && typeof body === "object" ? body : {}), kind: "outage", provider } as FaultRule;
  const problem = validateFaultSpec({ rules: [rule] });
  if (problem) return send(res, 400, { error: problem.replace("faults.rules[0]", "outage") });
  admin.faults.endOutage(rule.provider!);
  admin.faults.add(rule);
  admin.cutOff(rule.provider!);
  return send(res, 200, { provider, rules: admin.faults.list() });
}

export async function listenAdmin(server: Server, host: string, port: number): Promise<string> {
  return `http://${host}:${await listen(server, port, host)}`;
}
