import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ISO, client, eventually, expectShape, health, publicKey, sandbox, type Body, type Sandbox } from "./helpers.js";

let sb: Sandbox;
let api: ReturnType<typeof client>;

beforeAll(async () => {
  sb = await sandbox();
  api = client(sb.urls.hetzner, sb.token);
});
afterAll(() => sb.cleanup());

function expectAction(a: unknown, where = "action"): void {
  expectShape(a, { id: "integer", command: "string", status: "string", progress: "integer", started: "string", finished: "string|null", resources: "array", error: "object|null" }, where);
  const action = a as Body;
  expect(["running", "success", "error"]).toContain(action.status);
  expect(action.started).toMatch(ISO);
}

function expectServer(s: unknown): void {
  expectShape(s, {
    id: "integer", name: "string", status: "string", created: "string", public_net: "object", private_net: "array", server_type: "object",
    datacenter: "object", location: "object", image: "object|null", iso: "null", rescue_enabled: "boolean", locked: "boolean",
    backup_window: "string|null", outgoing_traffic: "integer|null", ingoing_traffic: "integer|null", included_traffic: "integer|null",
    protection: "object", labels: "object", primary_disk_size: "integer",
  }, "server");
  const server = s as Body;
  expectShape(server.public_net, { ipv4: "object|null", ipv6: "object|null", floating_ips: "array" }, "server.public_net");
  expectShape(server.server_type, { id: "integer", name: "string", cores: "integer", memory: "number", disk: "number", prices: "array", cpu_type: "string", architecture: "string", storage_type: "string", description: "string", locations: "array" }, "server.server_type");
  expectShape(server.datacenter, { id: "integer", name: "string", description: "string", location: "object", server_types: "object" }, "server.datacenter");
  expectShape(server.location, { id: "integer", name: "string", city: "string", country: "string", description: "string", latitude: "number", longitude: "number", network_zone: "string" }, "server.location");
}

function expectError(body: unknown, code: string): Body {
  expectShape(body, { error: "object" }, "body");
  const error = (body as Body).error as Body;
  expectShape(error, { code: "string", message: "string" }, "error");
  expect(error.code).toBe(code);
  return error;
}

describe("Hetzner servers", () => {
  it("creates a server (201 with action, next_actions, root_password) that becomes running with a health endpoint", async () => {
    const res = await api<Body>("POST", "/servers", { name: "alice", server_type: "cx22", image: "ubuntu-24.04", location: "nbg1", labels: { "automna.managed": "true", "automna.user": "alice" } });
    expect(res.status).toBe(201);
    expectServer(res.body.server);
    expect(res.body.server.status).toBe("initializing");
    expect(res.body.server.server_type.name).toBe("cx22");
    expect(res.body.server.location.name).toBe("nbg1");
    expect(res.body.server.public_net.ipv4.ip).toMatch(/^127\.77\.\d+\.\d+$/);
    expectAction(res.body.action);
    expect(res.body.action).toMatchObject({ command: "create_server", status: "running", resources: [{ id: res.body.server.id, type: "server" }] });
    expect(res.body.next_actions).toHaveLength(1);
    expect(res.body.next_actions[0]).toMatchObject({ command: "start_server", status: "running" });
    expect(typeof res.body.root_password).toBe("string");

    const id = res.body.server.id as number;
    const ip = res.body.server.public_net.ipv4.ip as string;
    const done = await eventually(async () => {
      const a = await api<Body>("GET", `/actions?id=${res.body.action.id}&id=${res.body.next_actions[0].id}`);
      return a.body.actions.every((x: Body) => x.status === "success") && a.body.actions;
    });
    expect(done).toHaveLength(2);
    for (const a of done) expectAction(a);
    expect(done[0].progress).toBe(100);
    expect(done[0].finished).toMatch(ISO);
    const got = await api<Body>("GET", `/servers/${id}`);
    expect(got.status).toBe(200);
    expectServer(got.body.server);
    expect(got.body.server.status).toBe("running");
    await sb.settled();
    expect(await health(ip)).toBe(200);

    const viaServer = await api<Body>("GET", `/servers/${id}/actions/${res.body.action.id}`);
    expect(viaServer.body.action.id).toBe(res.body.action.id);
    expect((await api("GET", `/servers/${id}/actions/999`)).status).toBe(404);
  });

  it("powers off and on through actions; the health endpoint follows", async () => {
    const created = await api<Body>("POST", "/servers", { name: "bob", server_type: "cpx11", image: "ubuntu-24.04", location: "ash" });
    const id = created.body.server.id as number;
    const ip = created.body.server.public_net.ipv4.ip as string;
    await eventually(async () => (await api<Body>("GET", `/servers/${id}`)).body.server.status === "running");
    const locked = await api<Body>("POST", `/servers/${id}/actions/poweroff`);
    expect(locked.status).toBe(201);
    expectAction(locked.body.action);
    expect(locked.body.action.command).toBe("stop_server");
    const again = await api<Body>("POST", `/servers/${id}/actions/poweron`);
    expect(again.status).toBe(423);
    expectError(again.body, "locked");
    await eventually(async () => (await api<Body>("GET", `/servers/${id}`)).body.server.status === "off");
    await sb.settled();
    expect(await health(ip)).toBe("down");
    const on = await api<Body>("POST", `/servers/${id}/actions/poweron`);
    expect(on.body.action.command).toBe("start_server");
    await eventually(async () => (await api<Body>("GET", `/servers/${id}`)).body.server.status === "running");
    await sb.settled();
    expect(await health(ip)).toBe(200);
    expect((await api("POST", `/servers/${id}/actions/explode`)).status).toBe(404);
  });

  it("deletes a server (200 with an action); it disappears and its health endpoint goes down", async () => {
    const created = await api<Body>("POST", "/servers", { name: "carol", server_type: "cx22", image: "ubuntu-24.04" });
    const id = created.body.server.id as number;
    const ip = created.body.server.public_net.ipv4.ip as string;
    await eventually(async () => (await api<Body>("GET", `/servers/${id}`)).body.server.status === "running");
    await sb.settled();
    expect(await health(ip)).toBe(200);
    const del = await api<Body>("DELETE", `/servers/${id}`);
    expect(del.status).toBe(200);
    expectAction(del.body.action);
    expect(del.body.action.command).toBe("delete_server");
    await eventually(async () => (await api("GET", `/servers/${id}`)).status === 404);
    expectError((await api("GET", `/servers/${id}`)).body, "not_found");
    await sb.settled();
    expect(await health(ip)).toBe("down");
  });

  it("rejects bad input with 422 invalid_input naming the fields", async () => {
    for (const [body, field] of [
      [{ name: "x1", server_type: "cx99", image: "ubuntu-24.04" }, "server_type"],
      [{ name: "x1", server_type: "cx22", image: "windows-11" }, "image"],
      [{ name: "x1", server_type: "cx22", image: "ubuntu-24.04", location: "mars1" }, "location"],
      [{ name: "x1", server_type: "cx22", image: "ubuntu-24.04", location: "ash" }, "server_type"],
      [{ name: "not a hostname", server_type: "cx22", image: "ubuntu-24.04" }, "name"],
      [{ name: "x1", server_type: "cx22", image: "ubuntu-24.04", labels: { "hetzner.cloud/x": "y" } }, "labels"],
      [{ name: "x1", server_type: "cx22", image: "ubuntu-24.04", ssh_keys: ["nope"] }, "ssh_keys"],
      [{ name: "x1", server_type: "cx22", image: "ubuntu-24.04", user_data: "#".repeat(32 * 1024 + 1) }, "user_data"],
    ] as const) {
      const res = await api<Body>("POST", "/servers", body);
      expect(res.status, field).toBe(422);
      const error = expectError(res.body, "invalid_input");
      expect(error.details.fields.map((f: Body) => f.name)).toEqual([field]);
      expect(error.details.fields[0].messages.length).toBeGreaterThan(0);
    }
    const missing = await api<Body>("POST", "/servers", { name: "x1" });
    expect(expectError(missing.body, "invalid_input").details.fields.map((f: Body) => f.name)).toEqual(["server_type", "image"]);
    const ok = await api("POST", "/servers", { name: "x1", server_type: "cx22", image: "ubuntu-24.04", user_data: "#".repeat(32 * 1024) });
    expect(ok.status).toBe(201);
    const dup = await api<Body>("POST", "/servers", { name: "x1", server_type: "cx22", image: "ubuntu-24.04" });
    expect(dup.status).toBe(409);
    expect(expectError(dup.body, "uniqueness_error").details.fields).toEqual([{ name: "name" }]);
    const badJson = await fetch(`${sb.urls.hetzner}/servers`, { method: "POST", headers: { authorization: `Bearer ${sb.token}` }, body: "{nope" });
    expect(badJson.status).toBe(400);
    expectError(await badJson.json(), "json_error");
  });

  it("answers 401 unauthorized in the error format for a wrong or missing token", async () => {
    for (const token of ["wrong-token-123", null]) {
      const res = await client(sb.urls.hetzner, token)<Body>("GET", "/servers");
      expect(res.status).toBe(401);
      expectError(res.body, "unauthorized");
    }
  });

  it("filters by label_selector and name, and paginates with meta.pagination and a Link header", async () => {
    const names: string[] = [];
    for (let i = 0; i < 7; i++) {
      const name = `page-${i}`;
      names.push(name);
      const res = await api("POST", "/servers", { name, server_type: "cx22", image: "ubuntu-24.04", labels: { "automna.managed": "true", "automna.user": name, ...(i % 2 ? { odd: "" } : {}) }, start_after_create: false });
      expect(res.status).toBe(201);
    }
    const sel = (s: string) => api<Body>("GET", `/servers?label_selector=${encodeURIComponent(s)}&per_page=50`).then((r) => r.body.servers.map((x: Body) => x.name).filter((n: string) => n.startsWith("page-")));
    expect(await sel("automna.user=page-3")).toEqual(["page-3"]);
    expect(await sel("automna.user==page-3")).toEqual(["page-3"]);
    expect(await sel("automna.managed,odd")).toEqual(["page-1", "page-3", "page-5"]);
    expect(await sel("automna.managed,!odd")).toEqual(["page-0", "page-2", "page-4", "page-6"]);
    expect(await sel("automna.user in (page-0, page-6),automna.managed=true")).toEqual(["page-0", "page-6"]);
    expect(await sel("automna.user notin (page-0,page-1,page-2,page-3,page-4),automna.managed")).toEqual(["page-5", "page-6"]);
    expect(await sel("automna.managed=true,automna.user!=page-0,odd")).toEqual(["page-1", "page-3", "page-5"]);
    const bad = await api<Body>("GET", "/servers?label_selector=a%20in%20(b");
    expect(expectError(bad.body, "invalid_input").details.fields[0].name).toBe("label_selector");
    expect((await api<Body>("GET", "/servers?name=page-4")).body.servers.map((s: Body) => s.name)).toEqual(["page-4"]);

    const first = await api<Body>("GET", "/servers?label_selector=automna.managed&per_page=3");
    expect(first.body.servers).toHaveLength(3);
    expect(first.body.meta.pagination).toEqual({ page: 1, per_page: 3, previous_page: null, next_page: 2, last_page: 3, total_entries: 8 });
    const link = first.headers.get("link")!;
    expect(link).toContain('rel="next"');
    expect(link).toContain('rel="last"');
    expect(link).not.toContain('rel="prev"');
    const nextUrl = /<([^>]+)>; rel="next"/.exec(link)![1]!;
    expect(nextUrl).toContain("label_selector=automna.managed");
    const second = await fetch(nextUrl, { headers: { authorization: `Bearer ${sb.token}` } }).then((r) => r.json() as Promise<Body>);
    expect(second.meta.pagination).toMatchObject({ page: 2, previous_page: 1, next_page: 3 });
    const last = await api<Body>("GET", "/servers?label_selector=automna.managed&per_page=3&page=3");
    expect(last.body.servers).toHaveLength(2);
    expect(last.body.meta.pagination.next_page).toBeNull();
    const all = [...first.body.servers, ...second.servers, ...last.body.servers].map((s: Body) => s.name);
    expect(new Set(all).size).toBe(8);
    expect((await api<Body>("GET", "/servers?per_page=500")).body.meta.pagination.per_page).toBe(50);
    const sorted = await api<Body>("GET", "/servers?label_selector=odd&sort=name:desc");
    expect(sorted.body.servers.map((s: Body) => s.name)).toEqual(["page-5", "page-3", "page-1"]);
  });

  it("updates name and labels with PUT", async () => {
    const created = await api<Body>("POST", "/servers", { name: "dave", server_type: "cx22", image: "ubuntu-24.04", labels: { a: "1" } });
    const id = created.body.server.id as number;
    const put = await api<Body>("PUT", `/servers/${id}`, { name: "dave2", labels: { b: "2" } });
    expect(put.status).toBe(200);
    expect(put.body.server).toMatchObject({ name: "dave2", labels: { b: "2" } });
    expect((await api("PUT", `/servers/${id}`, { name: "alice" })).status).toBe(409);
  });
});

describe("Hetzner ssh keys and catalogue", () => {
  it("creates, finds, refuses a duplicate fingerprint and deletes ssh keys", async () => {
    const res = await api<Body>("POST", "/ssh_keys", { name: "ops", public_key: publicKey(1), labels: { team: "ops" } });
    expect(res.status).toBe(201);
    expectShape(res.body.ssh_key, { id: "integer", name: "string", fingerprint: "string", public_key: "string", labels: "object", created: "string" }, "ssh_key");
    expect(res.body.ssh_key.fingerprint).toMatch(/^([0-9a-f]{2}:){15}[0-9a-f]{2}$/);
    const dup = await api<Body>("POST", "/ssh_keys", { name: "ops-2", public_key: publicKey(1) });
    expect(dup.status).toBe(409);
    expect(expectError(dup.body, "uniqueness_error").details.fields).toEqual([{ name: "public_key" }]);
    const bad = await api<Body>("POST", "/ssh_keys", { name: "bad", public_key: "ssh-ed25519 AAAA" });
    expect(expectError(bad.body, "invalid_input").details.fields[0].name).toBe("public_key");
    const byFp = await api<Body>("GET", `/ssh_keys?fingerprint=${res.body.ssh_key.fingerprint}`);
    expect(byFp.body.ssh_keys.map((k: Body) => k.name)).toEqual(["ops"]);
    const server = await api<Body>("POST", "/servers", { name: "keyed", server_type: "cx22", image: "ubuntu-24.04", ssh_keys: ["ops"] });
    expect(server.status).toBe(201);
    expect(server.body.root_password).toBeNull();
    const id = res.body.ssh_key.id as number;
    expect((await api("GET", `/ssh_keys/${id}`)).status).toBe(200);
    expect((await api("DELETE", `/ssh_keys/${id}`)).status).toBe(204);
    expect((await api("GET", `/ssh_keys/${id}`)).status).toBe(404);
  });

  it("serves server types with per-location EUR prices, locations, images and pricing", async () => {
    const types = await api<Body>("GET", "/server_types?per_page=50");
    const cx22 = types.body.server_types.find((t: Body) => t.name === "cx22");
    expect(cx22).toMatchObject({ cores: 2, memory: 4, disk: 40, cpu_type: "shared", architecture: "x86" });
    const fsn1 = cx22.prices.find((p: Body) => p.location === "fsn1");
    expect(fsn1.price_monthly).toEqual({ net: "3.7900000000", gross: "4.5101000000" });
    expectShape(fsn1, { location: "string", price_hourly: "object", price_monthly: "object", included_traffic: "integer", price_per_tb_traffic: "object" }, "price");
    expect(types.body.server_types.map((t: Body) => t.name)).toEqual(expect.arrayContaining(["cx22", "cx32", "cx42", "cpx11", "cax11"]));
    const locations = await api<Body>("GET", "/locations");
    expect(locations.body.locations.map((l: Body) => l.name)).toEqual(["fsn1", "nbg1", "hel1", "ash", "hil", "sin"]);
    const images = await api<Body>("GET", "/images?name=ubuntu-24.04&architecture=x86");
    expect(images.body.images).toHaveLength(1);
    expectShape(images.body.images[0], { id: "integer", name: "string|null", type: "string", status: "string", architecture: "string", os_flavor: "string", os_version: "string|null", created: "string", deprecated: "null", labels: "object", protection: "object" }, "image");
    expect((await api<Body>("GET", "/images?name=docker-ce")).body.images.map((i: Body) => i.type)).toEqual(["app", "app"]);
    const pricing = await api<Body>("GET", "/pricing");
    expect(pricing.body.pricing).toMatchObject({ currency: "EUR", vat_rate: "19.00" });
    expect(pricing.body.pricing.server_types.find((t: Body) => t.name === "cx32").prices[0].price_monthly.net).toBe("6.8000000000");
  });
});

describe("Hetzner rate limit", () => {
  it("sends RateLimit headers and answers 429 rate_limit_exceeded once the hourly budget is spent", async () => {
    const own = await sandbox({ rateLimitScale: 0.0001 });
    try {
      const h = client(own.urls.hetzner, own.token);
      const first = await h("GET", "/locations");
      expect(first.headers.get("ratelimit-limit")).toBe("3600");
      expect(first.headers.get("ratelimit-remaining")).toBe("3599");
      expect(Number(first.headers.get("ratelimit-reset"))).toBeGreaterThan(Date.now() / 1000);
      let last = first;
      for (let sent = 1; sent < 3600; sent += 100) {
        const batch = await Promise.all(Array.from({ length: Math.min(100, 3600 - sent) }, () => h("GET", "/locations")));
        last = batch.at(-1)!;
      }
      expect(last.status).toBe(200);
      const over = await h<Body>("GET", "/locations");
      expect(over.status).toBe(429);
      expectError(over.body, "rate_limit_exceeded");
      expect(over.headers.get("ratelimit-remaining")).toBe("0");
    } finally {
      await own.cleanup();
    }
  });
});
