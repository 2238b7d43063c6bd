import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { request } from "undici";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startCloudflareSandbox, type CloudflareSandboxHandle } from "../../src/sandbox/cloudflare.js";

const TOKEN = "sandbox-token-0123456789abcdef";
const ISO = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d+Z$/;
const HEX32 = /^[0-9a-f]{32}$/;

let cf: CloudflareSandboxHandle;
let clock = Date.parse("2026-03-01T00:00:00Z");

beforeAll(async () => {
  cf = await startCloudflareSandbox({
    tokens: [TOKEN, { token: "other-zone-token-0000", zones: ["other.example.test"] }],
    zones: [{ name: "agents.example.test" }, { name: "other.example.test" }, { name: "free.example.test", plan: "free", limits: { recordQuota: 3 } }],
    rateLimit: { limit: 1000, windowMs: 300_000 },
    now: () => clock,
  });
});

afterAll(async () => {
  await cf?.close();
});

interface Envelope {
  success: boolean;
  errors: Array<{ code: number; message: string; error_chain?: Array<{ code: number; message: string }> }>;
  messages: unknown[];
  result: unknown;
  result_info?: { page: number; per_page: number; count: number; total_count: number; total_pages: number };
}

async function api(method: string, path: string, body?: unknown, token: string | null = TOKEN): Promise<{ status: number; json: Envelope; headers: Record<string, unknown> }> {
  const res = await request(`${cf.url}${path}`, {
    method: method as "GET",
    headers: { ...(token === null ? {} : { authorization: `Bearer ${token}` }), ...(body === undefined ? {} : { "content-type": "application/json" }) },
    body: body === undefined ? undefined : typeof body === "string" ? body : JSON.stringify(body),
  });
  return { status: res.statusCode, json: (await res.body.json()) as Envelope, headers: res.headers };
}

function zoneId(name: string): string {
  return cf.zones.find((z) => z.name === name)!.id;
}

function expectFailure(r: { status: number; json: Envelope }, status: number, code: number, message?: string): void {
  expect(r.status).toBe(status);
  expect(Object.keys(r.json).sort()).toEqual(["errors", "messages", "result", "success"]);
  expect(r.json.success).toBe(false);
  expect(r.json.result).toBeNull();
  expect(r.json.messages).toEqual([]);
  expect(r.json.errors[0]!.code).toBe(code);
  if (message !== undefined) expect(r.json.errors[0]!.message).toBe(message);
}

describe("zones", () => {
  it("lists zones by name with the envelope and result_info", async () => {
    const r = await api("GET", "/zones?name=agents.example.test");
    expect(r.status).toBe(200);
    expect(r.json.success).toBe(true);
    expect(r.json.errors).toEqual([]);
    expect(r.json.messages).toEqual([]);
    expect(r.json.result_info).toEqual({ page: 1, per_page: 20, count: 1, total_count: 1, total_pages: 1 });
    const [zone] = r.json.result as Array<Record<string, unknown>>;
    expect(zone!.id).toMatch(HEX32);
    expect(zone).toMatchObject({ name: "agents.example.test", status: "active", development_mode: 0, original_registrar: null, original_dnshost: null, original_name_servers: null });
    for (const key of ["created_on", "modified_on", "activated_on"]) expect(zone![key]).toMatch(ISO);
    expect(Array.isArray(zone!.name_servers)).toBe(true);
    expect((zone!.account as { id: string }).id).toMatch(HEX32);
    expect(zone!.meta).toBeTypeOf("object");
    expect((zone!.plan as { legacy_id: string }).legacy_id).toBe("pro");
    const all = await api("GET", "/zones?name=ends_with:example.test&per_page=5");
    expect(all.json.result_info).toMatchObject({ count: 3, total_count: 3 });
    expectFailure(await api("GET", "/zones?per_page=51"), 400, 1001);
  });

  it("gets one zone; an unknown or malformed zone id is 7003", async () => {
    const r = await api("GET", `/zones/${cf.zoneId}`);
    expect((r.json.result as { name: string }).name).toBe("agents.example.test");
    expect(r.json.result_info).toBeUndefined();
    expectFailure(await api("GET", `/zones/${"0".repeat(32)}/dns_records`), 400, 7003);
    expectFailure(await api("GET", "/zones/not-a-zone"), 400, 7003);
  });
});

describe("dns_records", () => {
  it("creates an A record with every field the schema describes", async () => {
    const r = await api("POST", `/zones/${cf.zoneId}/dns_records`, { type: "A", name: "alice", content: "203.0.113.10", ttl: 120, tags: ["automna-user:alice"], comment: "automna-user:alice" });
    expect(r.status).toBe(200);
    expect(r.json.success).toBe(true);
    const rec = r.json.result as Record<string, unknown>;
    expect(rec.id).toMatch(HEX32);
    expect(rec).toMatchObject({
      zone_id: cf.zoneId, zone_name: "agents.example.test", name: "alice.agents.example.test", type: "A", content: "203.0.113.10",
      proxiable: true, proxied: false, ttl: 120, tags: ["automna-user:alice"], comment: "automna-user:alice", meta: { auto_added: false, source: "primary" },
    });
    expect(rec.created_on).toMatch(ISO);
    expect(rec.modified_on).toBe(rec.created_on);
    const priv = await api("POST", `/zones/${cf.zoneId}/dns_records`, { type: "A", name: "bob.agents.example.test", content: "10.0.0.5", ttl: 1 });
    expect((priv.json.result as { proxiable: boolean; ttl: number }).proxiable).toBe(false);
    expect((priv.json.result as { ttl: number }).ttl).toBe(1);
  });

  it("validates ttl and content per type", async () => {
    const path = `/zones/${cf.zoneId}/dns_records`;
    expectFailure(await api("POST", path, { type: "A", name: "t1", content: "203.0.113.1", ttl: 30 }), 400, 9021, "Invalid TTL. Must be between 60 and 86400 seconds, or 1 for Automatic.");
    expectFailure(await api("POST", path, { type: "A", name: "t1", content: "203.0.113.1", ttl: 86401 }), 400, 9021);
    expectFailure(await api("POST", path, { type: "A", name: "t1", content: "2001:db8::1" }), 400, 9005, "Content for A record must be a valid IPv4 address.");
    expectFailure(await api("POST", path, { type: "AAAA", name: "t1", content: "203.0.113.1" }), 400, 9006);
    expectFailure(await api("POST", path, { type: "CNAME", name: "t1", content: "t1.agents.example.test" }), 400, 9007);
    expectFailure(await api("POST", path, { type: "MX", name: "t1", content: "mail.example.test" }), 400, 1004);
    expectFailure(await api("POST", path, "{not json"), 400, 9207);
    // A private address is not proxiable; a public one is, and a proxied record's TTL is automatic.
    expectFailure(await api("POST", path, { type: "A", name: "t2", content: "10.1.1.1", proxied: true }), 400, 9041, "This record type cannot be proxied.");
    expect((await api("POST", path, { type: "A", name: "t1", content: "203.0.113.1", proxied: true, ttl: 300 })).json.result).toMatchObject({ proxied: true, ttl: 1 });
  });

  it("keeps A/AAAA and CNAME apart with Cloudflare's codes, and refuses identical records", async () => {
    const path = `/zones/${cf.zoneId}/dns_records`;
    expectFailure(await api("POST", path, { type: "CNAME", name: "alice", content: "alice-app.fly.example" }), 400, 81053, "An A, AAAA, or CNAME record with that host already exists.");
    expect((await api("POST", path, { type: "CNAME", name: "carol", content: "carol-app.fly.example" })).status).toBe(200);
    expectFailure(await api("POST", path, { type: "A", name: "carol", content: "203.0.113.20" }), 400, 81054, "A CNAME record with that host already exists.");
    expectFailure(await api("POST", path, { type: "A", name: "alice", content: "203.0.113.10" }), 400, 81058, "An identical record already exists.");
    // A and AAAA may share a name.
    expect((await api("POST", path, { type: "AAAA", name: "alice", content: "2001:DB8::10" })).json.result).toMatchObject({ content: "2001:db8::10" });
  });

  it("filters by name, type, content, tag and comment, pages and orders", async () => {
    const path = `/zones/${cf.zoneId}/dns_records`;
    const byName = await api("GET", `${path}?name=alice.agents.example.test`);
    expect((byName.json.result as Array<{ type: string }>).map((r) => r.type)).toEqual(["A", "AAAA"]);
    expect(byName.json.result_info).toEqual({ page: 1, per_page: 100, count: 2, total_count: 2, total_pages: 1 });
    const byTag = await api("GET", `${path}?tag=automna-user:alice`);
    expect((byTag.json.result as Array<{ content: string }>).map((r) => r.content)).toEqual(["203.0.113.10"]);
    expect((await api("GET", `${path}?tag=AUTOMNA-USER`)).json.result_info!.count).toBe(1);
    expect((await api("GET", `${path}?tag.absent=automna-user&type=A`)).json.result_info!.count).toBe(2);
    expect((await api("GET", `${path}?comment.contains=USER:ALI`)).json.result_info!.count).toBe(1);
    expect((await api("GET", `${path}?content=carol-app.fly.example&type=CNAME`)).json.result_info!.count).toBe(1);
    const any = await api("GET", `${path}?match=any&type=CNAME&content=10.0.0.5`);
    expect((any.json.result as Array<{ name: string }>).map((r) => r.name).sort()).toEqual(["bob.agents.example.test", "carol.agents.example.test"]);
    const page2 = await api("GET", `${path}?per_page=2&page=2&order=name&direction=desc`);
    expect(page2.json.result_info).toEqual({ page: 2, per_page: 2, count: 2, total_count: 5, total_pages: 3 });
    // Names descending: t1, carol, bob, alice, alice; page 2 holds bob and the first alice.
    expect((page2.json.result as Array<{ name: string }>).map((r) => r.name)).toEqual(["bob.agents.example.test", "alice.agents.example.test"]);
    expectFailure(await api("GET", `${path}?per_page=0`), 400, 1004);
  });

  it("patches, replaces and deletes; a missing record is 81044", async () => {
    const path = `/zones/${cf.zoneId}/dns_records`;
    const created = (await api("POST", path, { type: "A", name: "dave", content: "203.0.113.30", tags: ["team:x"], comment: "c" })).json.result as { id: string; created_on: string };
    clock += 5000;
    const patched = (await api("PATCH", `${path}/${created.id}`, { content: "203.0.113.31" })).json.result as Record<string, unknown>;
    expect(patched).toMatchObject({ id: created.id, content: "203.0.113.31", tags: ["team:x"], comment: "c", created_on: created.created_on });
    expect(patched.modified_on).not.toBe(created.created_on);
    const replaced = (await api("PUT", `${path}/${created.id}`, { type: "CNAME", name: "dave", content: "dave-app.fly.example" })).json.result as Record<string, unknown>;
    expect(replaced).toMatchObject({ id: created.id, type: "CNAME", tags: [], ttl: 1 });
    expect(replaced.comment).toBeUndefined();
    expectFailure(await api("PUT", `${path}/${created.id}`, { content: "x.example" }), 400, 1004);
    const aliceA = (await api("GET", `${path}?name=alice.agents.example.test&type=A`)).json.result as Array<{ id: string }>;
    expectFailure(await api("PATCH", `${path}/${aliceA[0]!.id}`, { type: "CNAME", content: "a.fly.example" }), 400, 81053);
    const del = await api("DELETE", `${path}/${created.id}`);
    expect(del.json).toEqual({ success: true, errors: [], messages: [], result: { id: created.id } });
    expectFailure(await api("GET", `${path}/${created.id}`), 404, 81044, "Record does not exist.");
    expectFailure(await api("DELETE", `${path}/${created.id}`), 404, 81044);
  });

  it("applies the Free plan's limits: no tags (1004/9300), 100-character comments, the record quota", async () => {
    const path = `/zones/${zoneId("free.example.test")}/dns_records`;
    const tagged = await api("POST", path, { type: "A", name: "x", content: "203.0.113.1", tags: ["automna-user:x"] });
    expectFailure(tagged, 400, 1004, "DNS Validation Error");
    expect(tagged.json.errors[0]!.error_chain).toEqual([{ code: 9300, message: "DNS record has 1 tags, exceeding the quota of 0." }]);
    expectFailure(await api("POST", path, { type: "A", name: "x", content: "203.0.113.1", comment: "c".repeat(101) }), 400, 1004);
    for (const n of [1, 2, 3]) expect((await api("POST", path, { type: "A", name: `q${n}`, content: "203.0.113.1", comment: "automna-user:x" })).status).toBe(200);
    expectFailure(await api("POST", path, { type: "A", name: "q4", content: "203.0.113.1" }), 400, 81045);
  });
});

describe("auth, rate limit and faults", () => {
  it("answers missing, malformed, unknown and out-of-scope tokens with Cloudflare's codes", async () => {
    expectFailure(await api("GET", "/zones", undefined, null), 400, 9106);
    const malformed = await api("GET", "/zones", undefined, "has spaces in it");
    expectFailure(malformed, 400, 6003, "Invalid request headers");
    expect(malformed.json.errors[0]!.error_chain).toEqual([{ code: 6111, message: "Invalid format for Authorization header" }]);
    expectFailure(await api("GET", "/zones", undefined, "wrong-token-0123456789"), 401, 9109, "Invalid access token");
    expectFailure(await api("GET", `/zones/${cf.zoneId}/dns_records`, undefined, "other-zone-token-0000"), 403, 10000, "Authentication error");
    const scoped = await api("GET", "/zones", undefined, "other-zone-token-0000");
    expect((scoped.json.result as Array<{ name: string }>).map((z) => z.name)).toEqual(["other.example.test"]);
    expectFailure(await api("GET", "/accounts"), 404, 7000);
  });

  it("refuses the rest of the window with 429 once a token is over its limit", async () => {
    const limited = await startCloudflareSandbox({ tokens: [TOKEN], rateLimit: { limit: 3, windowMs: 60_000 }, now: () => clock });
    try {
      const call = () => request(`${limited.url}/zones`, { headers: { authorization: `Bearer ${TOKEN}` } });
      for (let i = 0; i < 3; i++) expect((await (await call()).body.json(), 200)).toBe(200);
      clock += 20_000;
      const over = await call();
      expect(over.statusCode).toBe(429);
      expect(over.headers["retry-after"]).toBe("40");
      expect(over.headers.ratelimit).toBe('"default";r=0;t=40');
      expect(over.headers["ratelimit-policy"]).toBe('"default";q=3;w=60');
      expect(await over.body.json()).toEqual({ success: false, errors: [{ code: 971, message: "Please wait and consider throttling your request speed" }], messages: [], result: null });
      clock += 39_000;
      expect((await call()).statusCode).toBe(429);
      clock += 1_000;
      expect((await call()).statusCode).toBe(200);
    } finally {
      await limited.close();
    }
  });

  it("injects 5xx before or after applying, forced 429s and a seeded error rate", async () => {
    const path = `/zones/${cf.zoneId}/dns_records`;
    cf.faults.failNext(1, { status: 502 });
    expectFailure(await api("POST", path, { type: "A", name: "f1", content: "203.0.113.40" }), 502, 10001);
    expect((await api("GET", `${path}?name=f1.agents.example.test`)).json.result).toEqual([]);
    cf.faults.failNext(1, { afterApply: true, methods: ["POST"] });
    expectFailure(await api("POST", path, { type: "A", name: "f1", content: "203.0.113.40" }), 500, 10001);
    expect((await api("GET", `${path}?name=f1.agents.example.test`)).json.result_info!.count).toBe(1);
    cf.faults.rateLimitNext(1, 7);
    const limited = await api("GET", path);
    expectFailure(limited, 429, 971);
    expect(limited.headers["retry-after"]).toBe("7");
    cf.faults.setErrorRate(1, 503);
    expectFailure(await api("GET", path), 503, 10001);
    cf.faults.reset();
    expect((await api("GET", path)).status).toBe(200);
  });

  it("keeps zones and records on disk across a restart", async () => {
    const dir = mkdtempSync(join(tmpdir(), "automna-cf-"));
    try {
      const first = await startCloudflareSandbox({ tokens: [TOKEN], dataDir: dir });
      await request(`${first.url}/zones/${first.zoneId}/dns_records`, { method: "POST", headers: { authorization: `Bearer ${TOKEN}`, "content-type": "application/json" }, body: JSON.stringify({ type: "A", name: "p", content: "203.0.113.9" }) }).then((r) => r.body.dump());
      await first.close();
      const second = await startCloudflareSandbox({ tokens: [TOKEN], dataDir: dir });
      expect(second.zoneId).toBe(first.zoneId);
      expect(second.records().map((r) => r.name)).toEqual(["p.agents.example.test"]);
      await second.close();
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
