import { rmSync, statSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { startSandbox, type HostModule } from "../../src/sandbox/index.js";
import { client, eventually, health, sandbox, type Body } from "./helpers.js";

const server = (name: string): Body => ({ name, server_type: "cx22", image: "ubuntu-24.04", labels: { "automna.op": `op-${name}` } });

describe("faults", () => {
  it("commit-then-504 creates exactly one server; the retry sees the name taken and the marker finds it", async () => {
    const sb = await sandbox({ faults: { rules: [{ kind: "commit_then_error", provider: "hetzner", method: "POST", path: "/v1/servers", count: 1 }] } });
    try {
      const api = client(sb.urls.hetzner, sb.token);
      const first = await api<Body>("POST", "/servers", server("eve"));
      expect(first.status).toBe(504);
      expect(first.body.error.code).toBe("timeout");
      const retry = await api<Body>("POST", "/servers", server("eve"));
      expect(retry.status).toBe(409);
      const found = await api<Body>("GET", `/servers?label_selector=${encodeURIComponent("automna.op=op-eve")}`);
      expect(found.body.servers).toHaveLength(1);
      const posts = sb.requests().filter((r) => r.method === "POST" && r.path === "/v1/servers");
      expect(posts.map((r) => r.status)).toEqual([504, 409]);
      expect(sb.requests().at(-1)).toMatchObject({ provider: "hetzner", method: "GET", path: "/v1/servers", query: "label_selector=automna.op%3Dop-eve", status: 200 });
    } finally {
      await sb.cleanup();
    }
  });

  it("injects provider-shaped 5xx errors, 429 storms, latency and connection resets, also through the admin endpoint", async () => {
    const sb = await sandbox();
    try {
      const h = client(sb.urls.hetzner, sb.token);
      const d = client(sb.urls.digitalocean, sb.token);
      const f = client(sb.urls.fly, sb.token);
      sb.setFaults({ rules: [
        { kind: "error", provider: "digitalocean", path: "/v2/droplets", status: 503, count: 2 },
        { kind: "rate_limit", provider: "hetzner", path: "/v1/servers/**", count: 1 },
        { kind: "error", provider: "fly", method: "GET", path: "/v1/apps/*", status: 500 },
      ] });
      const e1 = await d<Body>("GET", "/v2/droplets");
      expect(e1.status).toBe(503);
      expect(e1.body).toMatchObject({ id: "service_unavailable", message: expect.any(String) });
      expect((await d("GET", "/v2/droplets")).status).toBe(503);
      expect((await d("GET", "/v2/droplets")).status).toBe(200);
      const storm = await h<Body>("GET", "/servers/1");
      expect(storm.status).toBe(429);
      expect(storm.body.error.code).toBe("rate_limit_exceeded");
      expect(storm.headers.get("ratelimit-remaining")).toBe("0");
      expect((await h("GET", "/servers/1")).status).toBe(404);
      expect((await h("GET", "/servers")).status).toBe(200);
      const flyErr = await f<Body>("GET", "/v1/apps/x");
      expect(flyErr.status).toBe(500);
      expect(typeof flyErr.body.error).toBe("string");

      const admin = (method: string, path: string, body?: unknown) => fetch(`${sb.urls.admin}${path}`, { method, body: body === undefined ? undefined : JSON.stringify(body) });
      const bad = await admin("POST", "/faults", { rules: [{ kind: "explode" }] });
      expect(bad.status).toBe(400);
      expect(((await bad.json()) as Body).error).toContain("kind");
      const set = await admin("POST", "/faults", { rules: [
        { kind: "latency", provider: "fly", latencyMs: 3000 },
        { kind: "reset", provider: "digitalocean", method: "GET", path: "/v2/regions", count: 1 },
      ] });
      expect(((await set.json()) as Body).rules).toHaveLength(2);
      expect((await (await admin("GET", "/faults")).json() as Body).rules).toHaveLength(2);
      await expect(fetch(`${sb.urls.fly}/v1/apps?org_slug=personal`, { headers: { authorization: `Bearer ${sb.token}` }, signal: AbortSignal.timeout(200) })).rejects.toThrow();
      await expect(fetch(`${sb.urls.digitalocean}/v2/regions`, { headers: { authorization: `Bearer ${sb.token}` } })).rejects.toThrow();
      expect((await d("GET", "/v2/regions")).status).toBe(200);
      expect(sb.requests().filter((r) => r.path === "/v2/regions").map((r) => r.status)).toEqual([0, 200]);
      await admin("POST", "/faults", {});
      expect((await f("GET", "/v1/apps?org_slug=personal")).status).toBe(200);
    } finally {
      await sb.cleanup();
    }
  });
});

describe("world", () => {
  it("persists the fleet, token and ids across close and start; running hosts answer again", async () => {
    const sb = await sandbox({ actionDelayMs: 20 });
    const dir = sb.dir;
    const token = sb.token;
    let h = client(sb.urls.hetzner, token);
    const created = await h<Body>("POST", "/servers", server("frank"));
    const id = created.body.server.id as number;
    const ip = created.body.server.public_net.ipv4.ip as string;
    await eventually(async () => (await h<Body>("GET", `/servers/${id}`)).body.server.status === "running");
    let d = client(sb.urls.digitalocean, token);
    const droplet = await d<Body>("POST", "/v2/droplets", { name: "grace", size: "s-1vcpu-1gb", image: "ubuntu-24-04-x64", tags: ["automna"] });
    let f = client(sb.urls.fly, token);
    await f("POST", "/v1/apps", { name: "automna-heidi", org_slug: "personal" });
    await f("POST", "/v1/apps/automna-heidi/secrets/KEY", { value: "v" });
    const machine = await f<Body>("POST", "/v1/apps/automna-heidi/machines", { config: { image: "nginx", metadata: { "automna.user": "heidi" } } });
    await sb.close();
    expect(await health(ip)).toBe("down");
    expect(statSync(join(dir, "world.json")).mode & 0o777).toBe(0o600);
    expect(statSync(join(dir, "token")).mode & 0o777).toBe(0o600);

    const again = await startSandbox({ dir, actionDelayMs: 20 });
    try {
      expect(again.token).toBe(token);
      h = client(again.urls.hetzner, token);
      d = client(again.urls.digitalocean, token);
      f = client(again.urls.fly, token);
      expect((await h<Body>("GET", `/servers/${id}`)).body.server).toMatchObject({ name: "frank", status: "running", labels: { "automna.op": "op-frank" } });
      expect((await d<Body>("GET", "/v2/droplets?tag_name=automna")).body.droplets.map((x: Body) => x.id)).toEqual([droplet.body.droplet.id]);
      await eventually(async () => (await d<Body>("GET", `/v2/droplets/${droplet.body.droplet.id}`)).body.droplet.status === "active");
      expect((await f<Body>("GET", "/v1/apps/automna-heidi/machines?metadata.automna.user=heidi")).body.map((m: Body) => m.id)).toEqual([machine.body.id]);
      expect((await f<Body>("GET", "/v1/apps/automna-heidi/secrets/KEY?show_secrets=true")).body.value).toBe("v");
      await again.settled();
      expect(await health(ip)).toBe(200);
      const next = await h<Body>("POST", "/servers", server("ivan"));
      expect(next.body.server.id).toBeGreaterThan(id);
      expect(next.body.server.public_net.ipv4.ip).not.toBe(ip);
      const world = (await (await fetch(`${again.urls.admin}/world`)).json()) as Body;
      expect(world.counts).toMatchObject({ hetznerServers: 2, digitaloceanDroplets: 1, flyApps: 1, flyMachines: 1 });
      expect(JSON.stringify(world)).not.toContain(token);
    } finally {
      await again.close();
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it("finishes actions that were in flight when the sandbox stopped", async () => {
    const sb = await sandbox({ actionDelayMs: 150 });
    const created = await client(sb.urls.hetzner, sb.token)<Body>("POST", "/servers", server("judy"));
    await sb.close();
    const again = await startSandbox({ dir: sb.dir, actionDelayMs: 150 });
    try {
      const h = client(again.urls.hetzner, again.token);
      await eventually(async () => (await h<Body>("GET", `/servers/${created.body.server.id}`)).body.server.status === "running");
      expect((await h<Body>("GET", `/actions/${created.body.action.id}`)).body.action.status).toBe("success");
    } finally {
      await again.close();
      rmSync(sb.dir, { recursive: true, force: true });
    }
  });

  it("drives per-host modules: up when a host runs, down when it stops, destroy when it is deleted", async () => {
    const calls: string[] = [];
    const recorder = (name: string): HostModule => ({
      name,
      up: async (h) => void calls.push(`${name} up ${h.key} ${h.address}`),
      down: async (h) => void calls.push(`${name} down ${h.key}`),
      destroy: async (h) => void calls.push(`${name} destroy ${h.key}`),
      close: async () => undefined,
    });
    const sb = await sandbox({ hostModules: [recorder("early")] });
    try {
      const h = client(sb.urls.hetzner, sb.token);
      const created = await h<Body>("POST", "/servers", server("walter"));
      const key = `hetzner:${created.body.server.id}`;
      const ip = created.body.server.public_net.ipv4.ip as string;
      await eventually(async () => (await h<Body>("GET", `/servers/${created.body.server.id}`)).body.server.status === "running");
      await sb.settled();
      await sb.hosts.register(recorder("late"));
      await h("DELETE", `/servers/${created.body.server.id}`);
      await eventually(async () => (await h("GET", `/servers/${created.body.server.id}`)).status === 404);
      await sb.settled();
      expect(calls).toEqual([`early up ${key} ${ip}`, `late up ${key} ${ip}`, `early down ${key}`, `late down ${key}`, `early destroy ${key}`, `late destroy ${key}`]);
    } finally {
      await sb.cleanup();
    }
  });

  it("refuses a second sandbox on the same directory", async () => {
    const sb = await sandbox();
    try {
      await expect(startSandbox({ dir: sb.dir })).rejects.toThrow(/already running/);
    } finally {
      await sb.cleanup();
    }
  });

  it("deletes resources behind automna's back and resets the world through the admin endpoint", async () => {
    const sb = await sandbox();
    try {
      const h = client(sb.urls.hetzner, sb.token);
      const created = await h<Body>("POST", "/servers", server("mallory"));
      const id = created.body.server.id as number;
      await eventually(async () => (await h<Body>("GET", `/servers/${id}`)).body.server.status === "running");
      await sb.settled();
      expect(await health(created.body.server.public_net.ipv4.ip)).toBe(200);
      expect((await fetch(`${sb.urls.admin}/hetzner/servers/${id}`, { method: "DELETE" })).status).toBe(200);
      expect((await h("GET", `/servers/${id}`)).status).toBe(404);
      await sb.settled();
      expect(await health(created.body.server.public_net.ipv4.ip)).toBe("down");
      expect((await fetch(`${sb.urls.admin}/hetzner/servers/${id}`, { method: "DELETE" })).status).toBe(404);

      const f = client(sb.urls.fly, sb.token);
      await f("POST", "/v1/apps", { name: "automna-oscar", org_slug: "personal" });
      const m = await f<Body>("POST", "/v1/apps/automna-oscar/machines", { config: { image: "nginx" } });
      expect((await fetch(`${sb.urls.admin}/fly/apps/automna-oscar/machines/${m.body.id}`, { method: "DELETE" })).status).toBe(200);
      expect((await f<Body>("GET", `/v1/apps/automna-oscar/machines/${m.body.id}`)).body.state).toBe("destroyed");
      const d = client(sb.urls.digitalocean, sb.token);
      const droplet = await d<Body>("POST", "/v2/droplets", { name: "trent", size: "s-1vcpu-1gb", image: "ubuntu-24-04-x64" });
      expect((await fetch(`${sb.urls.admin}/digitalocean/droplets/${droplet.body.droplet.id}`, { method: "DELETE" })).status).toBe(200);
      expect((await d("GET", `/v2/droplets/${droplet.body.droplet.id}`)).status).toBe(404);

      await h("POST", "/servers", server("peggy"));
      expect((await fetch(`${sb.urls.admin}/reset`, { method: "POST" })).status).toBe(200);
      expect((await h<Body>("GET", "/servers")).body.servers).toEqual([]);
      expect((await f<Body>("GET", "/v1/apps?org_slug=personal")).body.apps).toEqual([]);
    } finally {
      await sb.cleanup();
    }
  });
});
