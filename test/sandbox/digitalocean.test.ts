import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ISO, client, eventually, expectShape, health, publicKey, sandbox, type Body, type Sandbox } from "./helpers.js";

let sb: Sandbox;
let api: ReturnType<typeof client>;

beforeAll(async () => {
  sb = await sandbox();
  api = client(sb.urls.digitalocean, sb.token);
});
afterAll(() => sb.cleanup());

function expectError(res: { status: number; body: Body }, status: number, id: string): string {
  expect(res.status).toBe(status);
  expectShape(res.body, { id: "string", message: "string", request_id: "string" }, "error");
  expect(res.body.id).toBe(id);
  return res.body.message as string;
}

function expectDroplet(d: unknown): void {
  expectShape(d, {
    id: "integer", name: "string", memory: "integer", vcpus: "integer", disk: "integer", locked: "boolean", status: "string", created_at: "string",
    features: "array", backup_ids: "array", next_backup_window: "object|null", snapshot_ids: "array", image: "object", volume_ids: "array",
    size: "object", size_slug: "string", networks: "object", region: "object", tags: "array",
  }, "droplet");
  const droplet = d as Body;
  expect(["new", "active", "off", "archive"]).toContain(droplet.status);
  expect(droplet.created_at).toMatch(ISO);
  expectShape(droplet.size, { slug: "string", memory: "integer", vcpus: "integer", disk: "integer", transfer: "number", price_monthly: "number", price_hourly: "number", regions: "array", available: "boolean", description: "string" }, "droplet.size");
  expectShape(droplet.region, { name: "string", slug: "string", features: "array", available: "boolean", sizes: "array" }, "droplet.region");
}

function expectAction(a: unknown): void {
  expectShape(a, { id: "integer", status: "string", type: "string", started_at: "string", completed_at: "string|null", resource_id: "integer|null", resource_type: "string", region_slug: "string|null" }, "action");
  expect(["in-progress", "completed", "errored"]).toContain((a as Body).status);
}

describe("DigitalOcean droplets", () => {
  it("creates a droplet (202 with a create action link) that becomes active with a public address and health", async () => {
    const res = await api<Body>("POST", "/v2/droplets", { name: "alice", region: "fra1", size: "s-1vcpu-2gb", image: "ubuntu-24-04-x64", tags: ["automna", "automna-user-alice"], user_data: "#cloud-config\n" });
    expect(res.status).toBe(202);
    expectDroplet(res.body.droplet);
    expect(res.body.droplet).toMatchObject({ status: "new", size_slug: "s-1vcpu-2gb", tags: ["automna", "automna-user-alice"], networks: { v4: [], v6: [] } });
    expect(res.body.links.actions).toHaveLength(1);
    const link = res.body.links.actions[0];
    expect(link).toMatchObject({ rel: "create", href: `${sb.urls.digitalocean}/v2/actions/${link.id}` });
    expect(res.headers.get("ratelimit-limit")).toBe("5000");

    const first = await api<Body>("GET", `/v2/actions/${link.id}`);
    expectAction(first.body.action);
    const action = await eventually(async () => {
      const a = await api<Body>("GET", `/v2/actions/${link.id}`);
      return a.body.action.status === "completed" && a.body.action;
    });
    expect(action).toMatchObject({ type: "create", resource_id: res.body.droplet.id, resource_type: "droplet", region_slug: "fra1" });
    expect(action.completed_at).toMatch(ISO);
    const got = await api<Body>("GET", `/v2/droplets/${res.body.droplet.id}`);
    expectDroplet(got.body.droplet);
    expect(got.body.droplet.status).toBe("active");
    const v4 = got.body.droplet.networks.v4;
    expect(v4).toEqual([expect.objectContaining({ type: "public", ip_address: expect.stringMatching(/^127\.77\.\d+\.\d+$/) })]);
    await sb.settled();
    expect(await health(v4[0].ip_address)).toBe(200);
    const viaDroplet = await api<Body>("GET", `/v2/droplets/${res.body.droplet.id}/actions/${link.id}`);
    expect(viaDroplet.body.action.id).toBe(link.id);
  });

  it("runs power actions (201) that complete; a second action while one runs is refused with 422", async () => {
    const res = await api<Body>("POST", "/v2/droplets", { name: "bob", region: "nyc", size: "s-1vcpu-1gb", image: "ubuntu-24-04-x64" });
    expect(res.body.droplet.region.slug).toMatch(/^nyc\d$/);
    const id = res.body.droplet.id as number;
    expectError(await api("POST", `/v2/droplets/${id}/actions`, { type: "power_off" }), 422, "unprocessable_entity");
    const droplet = await eventually(async () => {
      const d = await api<Body>("GET", `/v2/droplets/${id}`);
      return d.body.droplet.status === "active" && d.body.droplet;
    });
    const ip = droplet.networks.v4[0].ip_address as string;
    const off = await api<Body>("POST", `/v2/droplets/${id}/actions`, { type: "power_off" });
    expect(off.status).toBe(201);
    expectAction(off.body.action);
    expect(off.body.action).toMatchObject({ type: "power_off", status: "in-progress" });
    expect((await api<Body>("GET", `/v2/droplets/${id}`)).body.droplet.locked).toBe(true);
    expect(expectError(await api("POST", `/v2/droplets/${id}/actions`, { type: "power_on" }), 422, "unprocessable_entity")).toContain("pending event");
    await eventually(async () => (await api<Body>("GET", `/v2/droplets/${id}`)).body.droplet.status === "off");
    await sb.settled();
    expect(await health(ip)).toBe("down");
    const on = await api<Body>("POST", `/v2/droplets/${id}/actions`, { type: "power_on" });
    await eventually(async () => (await api<Body>("GET", `/v2/actions/${on.body.action.id}`)).body.action.status === "completed");
    await sb.settled();
    expect(await health(ip)).toBe(200);
    expectError(await api("POST", `/v2/droplets/${id}/actions`, { type: "self_destruct" }), 422, "unprocessable_entity");
    const del = await api("DELETE", `/v2/droplets/${id}`);
    expect(del.status).toBe(204);
    expectError(await api("GET", `/v2/droplets/${id}`), 404, "not_found");
    await sb.settled();
    expect(await health(ip)).toBe("down");
  });

  it("rejects bad size, region, image, tags and user_data with 422 messages naming the field", async () => {
    const base = { name: "x", region: "fra1", size: "s-1vcpu-1gb", image: "ubuntu-24-04-x64" };
    for (const [patch, word] of [
      [{ size: "s-99vcpu" }, "size"], [{ region: "mars1" }, "region"], [{ image: "windows" }, "image"],
      [{ tags: ["bad tag!"] }, "tags"], [{ user_data: "x".repeat(64 * 1024 + 1) }, "user_data"], [{ ssh_keys: [123] }, "ssh_keys"],
      [{ name: "bad name" }, "name"], [{ size: "s-1vcpu-512mb-10gb", region: "sfo2" }, "size"],
    ] as const) {
      const message = expectError(await api("POST", "/v2/droplets", { ...base, ...patch }), 422, "unprocessable_entity");
      expect(message, JSON.stringify(patch)).toContain(word);
    }
    expectError(await api("POST", "/v2/droplets", { name: "x" }), 422, "unprocessable_entity");
    const badJson = await fetch(`${sb.urls.digitalocean}/v2/droplets`, { method: "POST", headers: { authorization: `Bearer ${sb.token}` }, body: "{" });
    expect(badJson.status).toBe(400);
    expect(((await badJson.json()) as Body).id).toBe("bad_request");
  });

  it("answers 401 with {id, message} for a wrong token", async () => {
    const res = await client(sb.urls.digitalocean, "not-the-token")<Body>("GET", "/v2/droplets");
    expectError(res, 401, "unauthorized");
  });

  it("lists by tag_name with page/per_page, links.pages and meta.total", async () => {
    for (let i = 0; i < 5; i++) {
      const res = await api("POST", "/v2/droplets", { name: `t-${i}`, region: "ams3", size: "s-1vcpu-1gb", image: "ubuntu-24-04-x64", tags: ["paged", ...(i === 2 ? ["special"] : [])] });
      expect(res.status).toBe(202);
    }
    const page1 = await api<Body>("GET", "/v2/droplets?tag_name=paged&per_page=2");
    expect(page1.body.droplets.map((d: Body) => d.name)).toEqual(["t-0", "t-1"]);
    expect(page1.body.meta).toEqual({ total: 5 });
    expect(Object.keys(page1.body.links.pages).sort()).toEqual(["last", "next"]);
    const next = await fetch(page1.body.links.pages.next, { headers: { authorization: `Bearer ${sb.token}` } }).then((r) => r.json() as Promise<Body>);
    expect(next.droplets.map((d: Body) => d.name)).toEqual(["t-2", "t-3"]);
    expect(Object.keys(next.links.pages).sort()).toEqual(["first", "last", "next", "prev"]);
    const page3 = await api<Body>("GET", "/v2/droplets?tag_name=paged&per_page=2&page=3");
    expect(Object.keys(page3.body.links.pages).sort()).toEqual(["first", "prev"]);
    const small = await api<Body>("GET", "/v2/droplets?tag_name=special");
    expect(small.body.droplets.map((d: Body) => d.name)).toEqual(["t-2"]);
    expect(small.body.links).toEqual({});
    expectError(await api("GET", "/v2/droplets?tag_name=paged&name=t-1"), 422, "unprocessable_entity");
    expect((await api<Body>("GET", "/v2/droplets?name=T-1")).body.droplets.map((d: Body) => d.name)).toEqual(["t-1"]);
    const tag = await api<Body>("GET", "/v2/tags/paged");
    expect(tag.body.tag.resources.droplets.count).toBe(5);
    expect((await api("DELETE", "/v2/droplets?tag_name=special")).status).toBe(204);
    expect((await api<Body>("GET", "/v2/droplets?tag_name=paged")).body.meta.total).toBe(4);
  });
});

describe("DigitalOcean keys, tags and catalogue", () => {
  it("manages ssh keys by id and fingerprint; a duplicate is 422", async () => {
    const res = await api<Body>("POST", "/v2/account/keys", { name: "ops", public_key: publicKey(7) });
    expect(res.status).toBe(201);
    expectShape(res.body.ssh_key, { id: "integer", fingerprint: "string", public_key: "string", name: "string" }, "ssh_key");
    const fp = res.body.ssh_key.fingerprint as string;
    expect(expectError(await api("POST", "/v2/account/keys", { name: "again", public_key: publicKey(7) }), 422, "unprocessable_entity")).toContain("already in use");
    expect((await api<Body>("GET", `/v2/account/keys/${fp}`)).body.ssh_key.id).toBe(res.body.ssh_key.id);
    const droplet = await api<Body>("POST", "/v2/droplets", { name: "keyed", size: "s-1vcpu-1gb", image: "ubuntu-24-04-x64", ssh_keys: [fp] });
    expect(droplet.status).toBe(202);
    const list = await api<Body>("GET", "/v2/account/keys");
    expect(list.body.meta.total).toBe(1);
    expect((await api("DELETE", `/v2/account/keys/${res.body.ssh_key.id}`)).status).toBe(204);
    expectError(await api("GET", `/v2/account/keys/${fp}`), 404, "not_found");
  });

  it("creates tags (201) and validates their names", async () => {
    const res = await api<Body>("POST", "/v2/tags", { name: "automna-user-bob" });
    expect(res.status).toBe(201);
    expect(res.body.tag).toMatchObject({ name: "automna-user-bob", resources: { count: 0, droplets: { count: 0 } } });
    const bad = await api<Body>("POST", "/v2/tags", { name: "no spaces" });
    expect(bad.status).toBe(400);
    expectShape(bad.body, { error: "string", root_causes: "array" }, "tag error");
  });

  it("lists sizes with USD prices and regions", async () => {
    const sizes = await api<Body>("GET", "/v2/sizes");
    const slugs = sizes.body.sizes.map((s: Body) => s.slug);
    expect(slugs).toEqual(expect.arrayContaining(["s-1vcpu-512mb-10gb", "s-1vcpu-1gb", "s-1vcpu-2gb", "s-2vcpu-2gb", "s-2vcpu-4gb"]));
    const small = sizes.body.sizes.find((s: Body) => s.slug === "s-1vcpu-1gb");
    expect(small).toMatchObject({ price_monthly: 6, memory: 1024, vcpus: 1 });
    expect(small.price_hourly).toBeCloseTo(6 / 672, 6);
    expect(sizes.body.meta.total).toBe(sizes.body.sizes.length);
    const regions = await api<Body>("GET", "/v2/regions");
    expect(regions.body.regions.map((r: Body) => r.slug)).toEqual(expect.arrayContaining(["fra1", "nyc3", "ams3"]));
  });
});

describe("DigitalOcean rate limits", () => {
  it("answers the 251st request in a minute with 429 too_many_requests and retry-after", async () => {
    const own = await sandbox({ rateLimitScale: 0.001 });
    try {
      const d = client(own.urls.digitalocean, own.token);
      const first = await d("GET", "/v2/regions");
      expect(first.headers.get("ratelimit-remaining")).toBe("249");
      expect(Number(first.headers.get("ratelimit-reset"))).toBeGreaterThan(Date.now() / 1000);
      const rest = await Promise.all(Array.from({ length: 249 }, () => d("GET", "/v2/regions")));
      expect(rest.every((r) => r.status === 200)).toBe(true);
      const over = await d<Body>("GET", "/v2/regions");
      expectError(over, 429, "too_many_requests");
      expect(Number(over.headers.get("retry-after"))).toBeGreaterThan(0);
      expect(over.headers.get("ratelimit-remaining")).toBe("0");
    } finally {
      await own.cleanup();
    }
  });

  it("limits listing ssh keys to 10 per minute", async () => {
    const own = await sandbox({ rateLimitScale: 0.001 });
    try {
      const d = client(own.urls.digitalocean, own.token);
      for (let i = 0; i < 10; i++) expect((await d("GET", "/v2/account/keys")).status).toBe(200);
      const over = await d<Body>("GET", "/v2/account/keys");
      expectError(over, 429, "too_many_requests");
      expect(over.headers.get("retry-after")).not.toBeNull();
      expect((await d("GET", "/v2/regions")).status).toBe(200);
    } finally {
      await own.cleanup();
    }
  });
});
