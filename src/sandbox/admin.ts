import { createServer, type Server } from "node:http";
import type { SandboxEnv } from "./env.js";
import { validateFaultSpec, type FaultSpec, type Faults } from "./faults.js";
import type { RequestRecord } from "./http.js";
import type { SandboxProvider } from "./util.js";
import { isoSeconds, listen } from "./util.js";

/** What the admin endpoint can do to the running sandbox. */
export interface AdminActions {
  env: SandboxEnv;
  faults: Faults;
  log: RequestRecord[];
  warnings: string[];
  urls(): Record<string, string>;
  reset(): Promise<void>;
  deleteHetznerServer(id: number): boolean;
  deleteDroplet(id: number): boolean;
  deleteFlyMachine(app: string, id: string): boolean;
  deleteFlyApp(app: string): boolean;
}

/** A compact view of the world (never the token, never secret values or user data). */
export function worldSummary(env: SandboxEnv): Record<string, unknown> {
  const w = env.world;
  return {
    counts: w.counts(),
    hetzner: {
      servers: [...w.hetzner.servers.values()].map((s) => ({ id: s.id, name: s.name, status: s.status, ip: s.ipv4, serverType: s.serverType, location: s.location, labels: s.labels, created: isoSeconds(s.created) })),
      sshKeys: [...w.hetzner.sshKeys.values()].map((k) => ({ id: k.id, name: k.name, fingerprint: k.fingerprint })),
    },
    digitalocean: {
      droplets: [...w.digitalocean.droplets.values()].map((d) => ({ id: d.id, name: d.name, status: d.status, ip: d.ipv4, size: d.size, region: d.region, tags: d.tags, created: isoSeconds(d.created) })),
      sshKeys: [...w.digitalocean.sshKeys.values()].map((k) => ({ id: k.id, name: k.name, fingerprint: k.fingerprint })),
      tags: [...w.digitalocean.tags],
    },
    fly: {
      apps: [...w.fly.apps.values()].map((a) => ({ name: a.name, org: a.org, created: isoSeconds(a.created), secrets: [...w.fly.secrets.values()].filter((s) => s.app === a.name).map((s) => s.name) })),
      machines: [...w.fly.machines.values()].map((m) => ({ id: m.id, app: m.app, name: m.name, state: m.state, region: m.region, ip: m.privateIp, metadata: m.config.metadata ?? {}, created: isoSeconds(m.created) })),
      volumes: [...w.fly.volumes.values()].map((v) => ({ id: v.id, app: v.app, name: v.name, region: v.region, sizeGb: v.sizeGb, attachedMachineId: v.attachedMachineId })),
    },
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
 * `DELETE /hetzner/servers/{id}`, `DELETE /digitalocean/droplets/{id}`,
 * `DELETE /fly/apps/{app}`, `DELETE /fly/apps/{app}/machines/{id}` (behind automna's back).
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
        const route = `${method} /${parts.map((p, i) => (i > 0 && /^[\w.-]+$/.test(p) && !["servers", "droplets", "apps", "machines"].includes(p) ? ":" : p)).join("/")}`;
        try {
          switch (route) {
            case "GET /health":
              return send(res, 200, { ok: true, pid: process.pid, urls: admin.urls() });
            case "GET /world":
              return send(res, 200, { ...worldSummary(admin.env), warnings: admin.warnings.slice(-50) });
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
              return send(res, 200, { rules: admin.faults.list() });
            }
            case "POST /reset":
              await admin.reset();
              return send(res, 200, { ok: true });
            case "DELETE /hetzner/servers/:":
              return admin.deleteHetznerServer(Number(parts[2])) ? send(res, 200, { deleted: true }) : send(res, 404, { error: "no such server" });
            case "DELETE /digitalocean/droplets/:":
              return admin.deleteDroplet(Number(parts[2])) ? send(res, 200, { deleted: true }) : send(res, 404, { error: "no such droplet" });
            case "DELETE /fly/apps/:":
              return admin.deleteFlyApp(parts[2]!) ? send(res, 200, { deleted: true }) : send(res, 404, { error: "no such app" });
            case "DELETE /fly/apps/:/machines/:":
              return admin.deleteFlyMachine(parts[2]!, parts[4]!) ? send(res, 200, { deleted: true }) : send(res, 404, { error: "no such machine" });
            default:
              return send(res, 404, { error: `no admin route ${method} ${url.pathname}` });
          }
        } catch (error) {
          return send(res, 500, { error: (error as Error).message });
        }
      })();
    });
  });
}

export async function listenAdmin(server: Server, host: string, port: number): Promise<string> {
  return `http://${host}:${await listen(server, port, host)}`;
}
