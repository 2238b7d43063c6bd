import { spawn } from "node:child_process";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { client, eventually, health, sandbox, type Body } from "./helpers.js";
import { collect, makeWorkspace, ssh, sshArgv, testHost, type Workspace } from "./host-helpers.js";

const server = (name: string): Body => ({ name, server_type: "cx22", image: "ubuntu-24.04", labels: { "automna.op": `op-${name}` } });

async function admin(base: string, method: string, path: string, body?: unknown): Promise<{ status: number; body: Body }> {
  const res = await fetch(`${base}${path}`, { method, body: body === undefined ? undefined : JSON.stringify(body), headers: { "content-type": "application/json" } });
  return { status: res.status, body: (await res.json()) as Body };
}

describe("a provider outage in the sandbox", () => {
  it("takes one provider's API and hosts down, 503 or reset, and brings them back with the agents still running", async () => {
    const sb = await sandbox();
    try {
      const h = client(sb.urls.hetzner, sb.token);
      const created = await h<Body>("POST", "/servers", server("walter"));
      const id = created.body.server.id as number;
      const ip = created.body.server.public_net.ipv4.ip as string;
      await eventually(async () => (await h<Body>("GET", `/servers/${id}`)).body.server.status === "running");
      await sb.settled();
      expect(await health(ip)).toBe(200);

      expect((await admin(sb.urls.admin, "POST", "/outage/hetzner", {})).status).toBe(200);
      const down = await h<Body>("GET", `/servers/${id}`);
      expect(down.status).toBe(503);
      expect(down.body.error.message).toContain("unavailable");
      expect((await client(sb.urls.fly, sb.token)("GET", "/v1/apps?org_slug=personal")).status).toBe(200);
      expect(await health(ip)).toBe("down");
      expect(sb.simHost(`hetzner:${id}`)!.agentRunning()).toBe(true);
      expect((await admin(sb.urls.admin, "GET", "/faults")).body.rules).toEqual([{ kind: "outage", provider: "hetzner" }]);

      // --reset: connections dropped instead of a 503 (replaces the outage in force).
      await admin(sb.urls.admin, "POST", "/outage/hetzner", { reset: true });
      await expect(h("GET", `/servers/${id}`)).rejects.toThrow();

      const ended = await admin(sb.urls.admin, "DELETE", "/outage/hetzner");
      expect(ended.body).toMatchObject({ provider: "hetzner", ended: 1, rules: [] });
      expect((await h<Body>("GET", `/servers/${id}`)).body.server.status).toBe("running");
      expect(await health(ip)).toBe(200);

      // For a time: it ends by itself.
      await admin(sb.urls.admin, "POST", "/outage/hetzner", { durationMs: 200 });
      await eventually(async () => (await health(ip)) === 200);
      expect((await h("GET", `/servers/${id}`)).status).toBe(200);
    } finally {
      await sb.cleanup();
    }
  });

  it("refuses an outage without a provider or of an unknown one", async () => {
    const sb = await sandbox();
    try {
      expect(await admin(sb.urls.admin, "POST", "/faults", { rules: [{ kind: "outage" }] })).toMatchObject({ status: 400, body: { error: expect.stringContaining("an outage needs a provider") } });
      expect(await admin(sb.urls.admin, "POST", "/outage/nowhere", {})).toMatchObject({ status: 400, body: { error: expect.stringContaining("provider must be one of") } });
      expect(await admin(sb.urls.admin, "POST", "/outage/fly", { reset: "yes" })).toMatchObject({ status: 400, body: { error: "outage.reset must be true or false" } });
    } finally {
      await sb.cleanup();
    }
  });
});

describe("an unreachable host", () => {
  let ws: Workspace;
  beforeAll(() => {
    ws = makeWorkspace();
  });
  afterAll(() => ws?.cleanup());

  it("resets SSH while cut off, drops open sessions, and answers again afterwards", async () => {
    let reachable = true;
    const host = await testHost(ws, "cutoff", "127.77.202.1", { reachable: () => reachable });
    try {
      const session = spawn("ssh", sshArgv(ws, host, "sleep 30"), { stdio: ["ignore", "pipe", "pipe"] });
      const hungUp = collect(session);
      await eventually(async () => host.agentRunning() && (await ssh(ws, host, "true")).code === 0);
      reachable = false;
      host.dropConnections();
      expect((await hungUp).code).toBe(255);
      expect((await ssh(ws, host, "true")).code).toBe(255);
      expect(host.agentRunning()).toBe(true);
      reachable = true;
      expect((await ssh(ws, host, "echo back")).stdout.toString()).toBe("back\n");
    } finally {
      await host.close();
    }
  });
});
