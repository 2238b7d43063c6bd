import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { client, expectShape, health, sandbox, type Body, type Sandbox } from "./helpers.js";

let sb: Sandbox;
let api: ReturnType<typeof client>;

beforeAll(async () => {
  // Per-machine limits (1/s, burst 3) would slow these tests; they have their own test below.
  sb = await sandbox({ rateLimits: false });
  api = client(sb.urls.fly, sb.token);
});
afterAll(() => sb.cleanup());

function expectError(res: { status: number; body: Body }, status: number): string {
  expect(res.status).toBe(status);
  expectShape(res.body, { error: "string" }, "error");
  return res.body.error as string;
}

function expectMachine(m: unknown): void {
  expectShape(m, { id: "string", name: "string", state: "string", region: "string", instance_id: "string", version: "string", private_ip: "string", config: "object", image_ref: "object", created_at: "string", updated_at: "string", events: "array" }, "machine");
  const machine = m as Body;
  expect(machine.id).toMatch(/^[0-9a-f]{14}$/);
  expect(machine.version).toMatch(/^[0-9A-HJKMNP-TV-Z]{26}$/);
  expectShape(machine.config.guest, { cpu_kind: "string", cpus: "integer", memory_mb: "integer" }, "machine.config.guest");
}

const config = (extra: Body = {}): Body => ({
  image: "ghcr.io/automna/agent:latest", guest: { cpu_kind: "shared", cpus: 1, memory_mb: 2048 }, restart: { policy: "always" }, ...extra,
});

async function app(name: string): Promise<void> {
  const res = await api<Body>("POST", "/v1/apps", { name, org_slug: "personal", network: `${name}-net` });
  expect(res.status).toBe(201);
  expectShape(res.body, { id: "string", created_at: "integer" }, "create app");
}

describe("Fly apps", () => {
  it("creates, gets, lists and deletes apps; a taken name is 422 name_taken", async () => {
    await app("automna-alice");
    const dup = await api<Body>("POST", "/v1/apps", { name: "automna-alice", org_slug: "personal" });
    expect(expectError(dup, 422)).toContain("taken");
    expect(dup.body.status).toBe("name_taken");
    const got = await api<Body>("GET", "/v1/apps/automna-alice");
    expectShape(got.body, { id: "string", name: "string", machine_count: "integer", volume_count: "integer", network: "string", organization: "object", status: "string" }, "app");
    expect(got.body.organization.slug).toBe("personal");
    const list = await api<Body>("GET", "/v1/apps?org_slug=personal");
    expect(list.body.apps.map((a: Body) => a.name)).toContain("automna-alice");
    expect(list.body.total_apps).toBe(list.body.apps.length);
    expectError(await api("GET", "/v1/apps"), 400);
    expectError(await api("POST", "/v1/apps", { name: "x", org_slug: "acme" }), 404);
    expectError(await api("POST", "/v1/apps", { name: "Bad_Name", org_slug: "personal" }), 422);
    expect((await api("DELETE", "/v1/apps/automna-alice")).status).toBe(202);
    expectError(await api("GET", "/v1/apps/automna-alice"), 404);
  });

  it("makes a retried create with the same idempotency_key return the first app", async () => {
    const a = await api<Body>("POST", "/v1/apps", { name: "idem-app", org_slug: "personal", idempotency_key: "k-1" });
    const b = await api<Body>("POST", "/v1/apps", { name: "idem-app", org_slug: "personal", idempotency_key: "k-1" });
    expect(b.status).toBe(201);
    expect(b.body.id).toBe(a.body.id);
    expectError(await api("POST", "/v1/apps", { name: "other-app", org_slug: "personal", idempotency_key: "k-1" }), 422);
  });

  it("pages apps with limit and next_cursor", async () => {
    for (let i = 0; i < 5; i++) await api("POST", "/v1/apps", { name: `paged-app-${i}`, org_slug: "personal" });
    const seen: string[] = [];
    let cursor: string | undefined;
    for (let pages = 0; pages < 10; pages++) {
      const res = await api<Body>("GET", `/v1/apps?org_slug=personal&limit=2${cursor ? `&cursor=${cursor}` : ""}`);
      seen.push(...res.body.apps.map((a: Body) => a.name));
      cursor = res.body.next_cursor;
      if (!cursor) break;
    }
    expect(seen.filter((n) => n.startsWith("paged-app-"))).toEqual(["paged-app-0", "paged-app-1", "paged-app-2", "paged-app-3", "paged-app-4"]);
    expect(new Set(seen).size).toBe(seen.length);
    expectError(await api("GET", "/v1/apps?org_slug=personal&cursor=abc"), 400);
  });
});

describe("Fly machines", () => {
  it("creates a machine with a volume mount that goes created -> started; wait, stop, start, destroy", async () => {
    await app("automna-bob");
    const vol = await api<Body>("POST", "/v1/apps/automna-bob/volumes", { name: "data", region: "fra", size_gb: 1 });
    expect(vol.status).toBe(200);
    expectShape(vol.body, { id: "string", name: "string", state: "string", size_gb: "integer", region: "string", zone: "string", encrypted: "boolean", created_at: "string" }, "volume");
    expect(vol.body.id).toMatch(/^vol_[a-z0-9]{16}$/);
    const res = await api<Body>("POST", "/v1/apps/automna-bob/machines", { name: "agent", config: config({ mounts: [{ volume: vol.body.id, path: "/data" }], metadata: { "automna.user": "bob" } }) });
    expect(res.status).toBe(200);
    expectMachine(res.body);
    expect(res.body).toMatchObject({ state: "created", region: "fra", name: "agent", config: { metadata: { "automna.user": "bob" }, restart: { policy: "always" }, mounts: [{ volume: vol.body.id, path: "/data", name: "data", size_gb: 1 }] } });
    expect(res.body.private_ip).toMatch(/^127\.77\.\d+\.\d+$/);
    const id = res.body.id as string;
    const attached = await api<Body>("GET", `/v1/apps/automna-bob/volumes/${vol.body.id}`);
    expect(attached.body.attached_machine_id).toBe(id);
    expectError(await api("DELETE", `/v1/apps/automna-bob/volumes/${vol.body.id}`), 400);
    expectError(await api("POST", "/v1/apps/automna-bob/machines", { config: config({ mounts: [{ volume: vol.body.id, path: "/data" }] }) }), 400);

    const waited = await api<Body>("GET", `/v1/apps/automna-bob/machines/${id}/wait?state=started&timeout=10`);
    expect(waited.status).toBe(200);
    expectShape(waited.body, { ok: "boolean", state: "string" }, "wait");
    expect(waited.body).toMatchObject({ ok: true, state: "started" });
    await sb.settled();
    expect(await health(res.body.private_ip)).toBe(200);

    expect(expectError(await api("DELETE", `/v1/apps/automna-bob/machines/${id}`), 412)).toContain("force");
    expectError(await api("GET", `/v1/apps/automna-bob/machines/${id}/wait?state=stopped`), 400);
    const timeout = await api<Body>("GET", `/v1/apps/automna-bob/machines/${id}/wait?state=stopped&timeout=1&version=${res.body.version}`);
    expectError(timeout, 408);
    expect((await api<Body>("POST", `/v1/apps/automna-bob/machines/${id}/stop`, { signal: "SIGTERM", timeout: "10s" })).status).toBe(200);
    const stopped = await api<Body>("GET", `/v1/apps/automna-bob/machines/${id}/wait?state=stopped&timeout=10&version=${res.body.version}`);
    expect(stopped.body).toMatchObject({ ok: true, state: "stopped" });
    await sb.settled();
    expect(await health(res.body.private_ip)).toBe("down");
    const start = await api<Body>("POST", `/v1/apps/automna-bob/machines/${id}/start`);
    expect(start.body).toMatchObject({ previous_state: "stopped" });
    expect((await api<Body>("GET", `/v1/apps/automna-bob/machines/${id}/wait?state=started`)).body.state).toBe("started");

    expect((await api("DELETE", `/v1/apps/automna-bob/machines/${id}?force=true`)).status).toBe(200);
    expect((await api<Body>("GET", `/v1/apps/automna-bob/machines/${id}/wait?state=destroyed&timeout=10`)).body.state).toBe("destroyed");
    await sb.settled();
    expect(await health(res.body.private_ip)).toBe("down");
    expect((await api<Body>("GET", "/v1/apps/automna-bob/machines")).body).toEqual([]);
    expect((await api<Body>("GET", "/v1/apps/automna-bob/machines?include_deleted=true")).body.map((m: Body) => m.state)).toEqual(["destroyed"]);
    expect((await api<Body>("DELETE", `/v1/apps/automna-bob/volumes/${vol.body.id}`)).body.state).toBe("destroyed");
  });

  it("validates guests, images, regions and volumes with 400 errors", async () => {
    await app("automna-val");
    const cases: [Body, string][] = [
      [{ config: { guest: { cpu_kind: "shared", cpus: 1, memory_mb: 256 } } }, "image"],
      [{ config: config({ guest: { cpu_kind: "shared", cpus: 1, memory_mb: 300 } }) }, "memory_mb"],
      [{ config: config({ guest: { cpu_kind: "shared", cpus: 1, memory_mb: 4096 } }) }, "memory_mb"],
      [{ config: config({ guest: { cpu_kind: "turbo", cpus: 1, memory_mb: 256 } }) }, "cpu_kind"],
      [{ config: config({ guest: { cpu_kind: "shared", cpus: 3, memory_mb: 768 } }) }, "cpus"],
      [{ config: config({ restart: { policy: "sometimes" } }) }, "restart"],
      [{ config: config(), region: "xyz" }, "region"],
    ];
    for (const [body, word] of cases) expect(expectError(await api("POST", "/v1/apps/automna-val/machines", body), 400), word).toContain(word);
    expectError(await api("POST", "/v1/apps/automna-val/machines", { config: config({ mounts: [{ volume: "vol_nope", path: "/data" }] }) }), 404);
    expectError(await api("POST", "/v1/apps/no-such-app/machines", { config: config() }), 404);
    expectError(await api("POST", "/v1/apps/automna-val/volumes", { name: "Data-1", region: "fra" }), 400);
    expectError(await api("POST", "/v1/apps/automna-val/volumes", { name: "data" }), 400);
    const perf = await api<Body>("POST", "/v1/apps/automna-val/machines", { config: config({ guest: { cpu_kind: "performance", cpus: 1, memory_mb: 2048 } }), skip_launch: true });
    expect(perf.status).toBe(200);
    expect((await api<Body>("GET", `/v1/apps/automna-val/machines/${perf.body.id}/wait?state=stopped&version=${perf.body.version}&timeout=5`)).body.state).toBe("stopped");
  });

  it("filters machines by metadata and pages them with limit and fly-next-cursor", async () => {
    await app("automna-many");
    for (let i = 0; i < 5; i++) {
      const res = await api("POST", "/v1/apps/automna-many/machines", { config: config({ metadata: { "automna.user": `u${i}`, ...(i % 2 ? { "automna.op": "op-1" } : {}) } }) });
      expect(res.status).toBe(200);
    }
    const byUser = await api<Body>("GET", "/v1/apps/automna-many/machines?metadata.automna.user=u3");
    expect(byUser.body.map((m: Body) => m.config.metadata["automna.user"])).toEqual(["u3"]);
    const both = await api<Body>("GET", "/v1/apps/automna-many/machines?metadata.automna.op=op-1&metadata.automna.user=u1");
    expect(both.body).toHaveLength(1);
    const ids: string[] = [];
    let cursor: string | null = null;
    for (let pages = 0; pages < 10; pages++) {
      const res: Awaited<ReturnType<typeof api<Body[]>>> = await api<Body[]>("GET", `/v1/apps/automna-many/machines?limit=2${cursor ? `&cursor=${cursor}` : ""}`);
      expect(res.body.length).toBeLessThanOrEqual(2);
      ids.push(...res.body.map((m) => m.id as string));
      cursor = res.headers.get("fly-next-cursor");
      if (!cursor) break;
    }
    expect(ids).toHaveLength(5);
    expect(new Set(ids).size).toBe(5);
    expectError(await api("GET", "/v1/apps/automna-many/machines?limit=0"), 400);
    const summary = await api<Body[]>("GET", "/v1/apps/automna-many/machines?summary=true");
    expect(summary.body[0]).not.toHaveProperty("config");
  });

  it("updates a machine; a stale current_version is 409", async () => {
    await app("automna-upd");
    const m = await api<Body>("POST", "/v1/apps/automna-upd/machines", { config: config() });
    const upd = await api<Body>("POST", `/v1/apps/automna-upd/machines/${m.body.id}`, { config: config({ env: { A: "1" } }), current_version: m.body.version });
    expect(upd.status).toBe(200);
    expect(upd.body.version).not.toBe(m.body.version);
    expect(upd.body.config.env).toEqual({ A: "1" });
    expectError(await api("POST", `/v1/apps/automna-upd/machines/${m.body.id}`, { config: config(), current_version: m.body.version }), 409);
  });

  it("sets, lists and deletes app secrets without returning values unless asked", async () => {
    await app("automna-sec");
    const set = await api<Body>("POST", "/v1/apps/automna-sec/secrets/OPENAI_API_KEY", { value: "sk-123" });
    expect(set.status).toBe(201);
    expectShape(set.body, { name: "string", digest: "string", created_at: "string", version: "integer" }, "secret");
    expect(set.body).not.toHaveProperty("value");
    const bulk = await api<Body>("POST", "/v1/apps/automna-sec/secrets", { values: { DISCORD_TOKEN: "d-1", TELEGRAM_TOKEN: "t-1" } });
    expect(bulk.status).toBe(200);
    expect(bulk.body.version).toBe(2);
    const list = await api<Body>("GET", "/v1/apps/automna-sec/secrets");
    expect(list.body.secrets.map((s: Body) => s.name).sort()).toEqual(["DISCORD_TOKEN", "OPENAI_API_KEY", "TELEGRAM_TOKEN"]);
    expect(list.body.secrets.every((s: Body) => s.value === undefined)).toBe(true);
    expect((await api<Body>("GET", "/v1/apps/automna-sec/secrets/OPENAI_API_KEY?show_secrets=true")).body.value).toBe("sk-123");
    expect((await api<Body>("DELETE", "/v1/apps/automna-sec/secrets/OPENAI_API_KEY")).body.version).toBe(3);
    expectError(await api("GET", "/v1/apps/automna-sec/secrets/OPENAI_API_KEY"), 404);
    expectError(await api("POST", "/v1/apps/automna-sec/secrets/bad-name", { value: "x" }), 400);
  });

  it("serves the logs API with machine events and appended lines, paged by next_token", async () => {
    await app("automna-logs");
    const m = await api<Body>("POST", "/v1/apps/automna-logs/machines", { config: config() });
    await api("GET", `/v1/apps/automna-logs/machines/${m.body.id}/wait?state=started`);
    sb.appendFlyLog("automna-logs", m.body.id, "agent listening on :8080");
    const first = await api<Body>("GET", "/api/v1/apps/automna-logs/logs");
    expect(first.status).toBe(200);
    expectShape(first.body.data[0], { id: "string", attributes: "object" }, "log");
    expectShape(first.body.data[0].attributes, { timestamp: "string", message: "string", level: "string", instance: "string", region: "string", meta: "object" }, "log.attributes");
    const messages = first.body.data.map((d: Body) => d.attributes.message as string);
    expect(messages.at(-1)).toBe("agent listening on :8080");
    expect(messages.some((line: string) => line.includes("start"))).toBe(true);
    const token = first.body.meta.next_token as string;
    expect((await api<Body>("GET", `/api/v1/apps/automna-logs/logs?next_token=${token}`)).body.data).toEqual([]);
    sb.appendFlyLog("automna-logs", m.body.id, "second line");
    const next = await api<Body>("GET", `/api/v1/apps/automna-logs/logs?next_token=${token}&instance=${m.body.id}`);
    expect(next.body.data.map((d: Body) => d.attributes.message)).toEqual(["second line"]);
  });

  it("answers 401 {error} for a wrong token", async () => {
    expectError(await client(sb.urls.fly, "nope-nope-nope")("GET", "/v1/apps?org_slug=personal"), 401);
  });
});

describe("Fly rate limits", () => {
  it("allows a burst of 3 per action per machine, then 429; get machine allows 10", async () => {
    // Buckets refilled 1000x slower than documented: no token comes back while the bursts are
    // counted, however slowly the requests follow each other.
    const own = await sandbox({ rateLimitScale: 0.001 });
    const api = client(own.urls.fly, own.token);
    try {
      await api("POST", "/v1/apps", { name: "automna-rl", org_slug: "personal" });
      const m = await api<Body>("POST", "/v1/apps/automna-rl/machines", { config: config(), skip_launch: true });
      const id = m.body.id as string;
      const stops = [];
      for (let i = 0; i < 4; i++) stops.push((await api("POST", `/v1/apps/automna-rl/machines/${id}/stop`)).status);
      expect(stops).toEqual([200, 200, 200, 429]);
      expect((await api("POST", `/v1/apps/automna-rl/machines/${id}/start`)).status).toBe(200);
      const gets = [];
      for (let i = 0; i < 11; i++) gets.push((await api("GET", `/v1/apps/automna-rl/machines/${id}`)).status);
      expect(gets.slice(0, 10).every((s) => s === 200)).toBe(true);
      expect(gets[10]).toBe(429);
      expectError(await api("GET", `/v1/apps/automna-rl/machines/${id}`), 429);
    } finally {
      await own.cleanup();
    }
  });
});
