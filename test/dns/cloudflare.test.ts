import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { CloudflareDns, type CloudflareDnsOptions } from "../../src/dns/cloudflare.js";
import { routeUser } from "../../src/dns/route.js";
import { AuthError, ProviderApiError, isAbortError } from "../../src/lib/errors.js";
import { Secret } from "../../src/lib/redact.js";
import { startCloudflareSandbox, type CloudflareSandboxHandle } from "../../src/sandbox/cloudflare.js";

const TOKEN = "dns-client-token-0123456789";
const TEMPLATE = "{user}.agents.example.test";
let cf: CloudflareSandboxHandle;
let clock = Date.parse("2026-03-01T00:00:00Z");
const delays: number[] = [];
const clients: CloudflareDns[] = [];

beforeAll(async () => {
  cf = await startCloudflareSandbox({
    tokens: [TOKEN],
    zones: [{ name: "agents.example.test" }, { name: "free.example.test", plan: "free" }, { name: "tiny.example.test", limits: { recordQuota: 1 } }],
    rateLimit: { limit: 1000, windowMs: 300_000 },
    now: () => clock,
    seed: 7,
  });
});

afterEach(async () => {
  cf.faults.reset();
  await Promise.all(clients.splice(0).map((c) => c.close()));
});

afterAll(async () => {
  await cf?.close();
});

/** A client whose backoff sleeps advance the sandbox's clock instead of waiting. */
function client(options: Partial<CloudflareDnsOptions> = {}): CloudflareDns {
  const dns = new CloudflareDns({
    baseUrl: cf.url,
    token: new Secret(TOKEN),
    zoneId: cf.zoneId,
    retry: { attempts: 5, baseDelayMs: 50 },
    sleep: async (ms) => {
      delays.push(ms);
      clock += ms;
    },
    ...options,
  });
  clients.push(dns);
  return dns;
}

function writes(): number {
  return cf.requests.filter((r) => r.method !== "GET").length;
}

describe("CloudflareDns.upsertRecord", () => {
  it("creates an A record tagged for the user and returns what it read back", async () => {
    const rec = await routeUser(client(), { user: "alice", template: TEMPLATE, target: { address: "203.0.113.10" } });
    expect(rec).toMatchObject({ name: "alice.agents.example.test", type: "A", content: "203.0.113.10", ttl: 60, proxied: false, tags: ["automna-user:alice"], comment: "automna-user:alice" });
    expect(rec.id).toMatch(/^[0-9a-f]{32}$/);
    expect(cf.records().filter((r) => r.name === "alice.agents.example.test")).toHaveLength(1);
  });

  it("is a no-op when the record is already right, and updates in place when the address changes", async () => {
    const dns = client();
    const before = writes();
    const same = await routeUser(dns, { user: "alice", template: TEMPLATE, target: { address: "203.0.113.10" } });
    expect(writes()).toBe(before);
    const moved = await routeUser(dns, { user: "alice", template: TEMPLATE, target: { address: "203.0.113.11" } });
    expect(moved.id).toBe(same.id);
    expect(moved.content).toBe("203.0.113.11");
    expect(cf.requests.filter((r) => r.method !== "GET").slice(-1)).toEqual([{ method: "PATCH", path: `/zones/${cf.zoneId}/dns_records/${same.id}`, status: 200 }]);
  });

  it("switches A -> CNAME -> AAAA by deleting the conflicting record first", async () => {
    const dns = client();
    const cname = await routeUser(dns, { user: "alice", template: TEMPLATE, target: { hostname: "automna-alice.fly.example" } });
    expect(cname).toMatchObject({ type: "CNAME", content: "automna-alice.fly.example" });
    const methods = cf.requests.filter((r) => r.method !== "GET").slice(-2).map((r) => r.method);
    expect(methods).toEqual(["DELETE", "POST"]);
    const aaaa = await routeUser(dns, { user: "alice", template: TEMPLATE, target: { address: "2001:DB8::7" } });
    expect(aaaa).toMatchObject({ type: "AAAA", content: "2001:db8::7" });
    expect(cf.records().filter((r) => r.name === "alice.agents.example.test").map((r) => `${r.type} ${r.content}`)).toEqual(["AAAA 2001:db8::7"]);
    expect((await dns.getRecords("ALICE.agents.example.test.")).map((r) => r.type)).toEqual(["AAAA"]);
  });

  it("removes duplicates and stale records of the other address family", async () => {
    const dns = client();
    await dns.upsertRecord({ name: "dup.agents.example.test", type: "A", content: "203.0.113.1" });
    // Someone added a second A and an AAAA by hand.
    await request("POST", { type: "A", name: "dup", content: "203.0.113.2" });
    await request("POST", { type: "AAAA", name: "dup", content: "2001:db8::2" });
    const rec = await dns.upsertRecord({ name: "dup.agents.example.test", type: "A", content: "203.0.113.2", ttl: 1 });
    expect(rec).toMatchObject({ content: "203.0.113.2", ttl: 1 });
    expect(cf.records().filter((r) => r.name === "dup.agents.example.test")).toHaveLength(1);
    expect(await dns.deleteRecords("dup.agents.example.test")).toBe(1);
    expect(await dns.getRecords("dup.agents.example.test")).toEqual([]);
  });

  it("falls back to the comment on a Free zone, which refuses record tags, and remembers it", async () => {
    const free = cf.zones.find((z) => z.name === "free.example.test")!.id;
    const dns = client({ zoneId: free });
    const rec = await dns.upsertRecord({ name: "bob.free.example.test", type: "A", content: "203.0.113.5", tags: ["automna-user:bob"] });
    expect(rec).toMatchObject({ tags: [], comment: "automna-user:bob" });
    const refusals = cf.requests.filter((r) => r.status === 400).length;
    await dns.upsertRecord({ name: "carol.free.example.test", type: "A", content: "203.0.113.6", tags: ["automna-user:carol"] });
    expect(cf.requests.filter((r) => r.status === 400).length).toBe(refusals);
  });
});

describe("retries", () => {
  it("waits out a 429 for its retry-after, then succeeds", async () => {
    const dns = client();
    delays.length = 0;
    cf.faults.rateLimitNext(1, 3);
    const rec = await routeUser(dns, { user: "erin", template: TEMPLATE, target: { address: "203.0.113.20" } });
    expect(rec.content).toBe("203.0.113.20");
    expect(delays).toHaveLength(1);
    expect(delays[0]).toBeGreaterThanOrEqual(3000);
  });

  it("gets through a token's exhausted window by waiting until it ends", async () => {
    const small = await startCloudflareSandbox({ tokens: [TOKEN], rateLimit: { limit: 4, windowMs: 60_000 }, now: () => clock });
    try {
      const dns = client({ baseUrl: small.url, zoneId: small.zoneId });
      delays.length = 0;
      await routeUser(dns, { user: "ivy", template: TEMPLATE, target: { address: "203.0.113.50" } });
      clock += 15_000;
      const rec = await routeUser(dns, { user: "jack", template: TEMPLATE, target: { address: "203.0.113.51" } });
      expect(rec.content).toBe("203.0.113.51");
      expect(delays).toEqual([45_000]);
      expect(small.requests.filter((r) => r.status === 429)).toHaveLength(1);
    } finally {
      await small.close();
    }
  });

  it("retries injected 5xx on reads and updates, and never creates twice when a POST's answer is lost", async () => {
    const seen: string[] = [];
    const dns = client({ onRetry: (i) => seen.push(`${i.method} ${i.reason}`) });
    cf.faults.failNext(2, { status: 502 });
    await routeUser(dns, { user: "frank", template: TEMPLATE, target: { address: "203.0.113.30" } });
    expect(seen).toEqual(["GET 502", "GET 502"]);
    // The create lands, but its answer is a 500: the client looks before posting again.
    cf.faults.failNext(1, { afterApply: true, methods: ["POST"] });
    const posts = cf.requests.filter((r) => r.method === "POST").length;
    const rec = await routeUser(dns, { user: "gina", template: TEMPLATE, target: { hostname: "automna-gina.fly.example" } });
    expect(rec.type).toBe("CNAME");
    expect(cf.requests.filter((r) => r.method === "POST").length).toBe(posts + 1);
    expect(cf.records().filter((r) => r.name === "gina.agents.example.test")).toHaveLength(1);
  });

  it("keeps DNS and intent in agreement for 20 users under a 30% error rate", async () => {
    const dns = client({ retry: { attempts: 8, baseDelayMs: 10 } });
    cf.faults.setErrorRate(0.3, 503);
    const users = Array.from({ length: 20 }, (_, i) => `load-${i}`);
    await Promise.all(users.map((user, i) => routeUser(dns, { user, template: TEMPLATE, target: { address: `198.51.100.${i + 1}` } })));
    cf.faults.reset();
    for (const [i, user] of users.entries()) {
      expect(cf.records().filter((r) => r.name === `${user}.agents.example.test`).map((r) => r.content)).toEqual([`198.51.100.${i + 1}`]);
    }
    expect(cf.requests.some((r) => r.status === 503)).toBe(true);
  });

  it("ends a wait for a 300 s retry-after at Ctrl-C: the call rejects as cancelled", async () => {
    const ac = new AbortController();
    const waits: number[] = [];
    const dns = client({ sleep: undefined, signal: ac.signal, onRetry: (i) => (waits.push(i.delayMs), ac.abort()) });
    cf.faults.rateLimitNext(1, 300);
    const error = await dns.getRecords("x.agents.example.test").catch((e: unknown) => e);
    expect(waits).toEqual([300_000]);
    expect(isAbortError(error)).toBe(true);
  });

  it("gives up after its attempts with the provider's error, request id included", async () => {
    const dns = client({ retry: { attempts: 3, baseDelayMs: 1 } });
    cf.faults.failNext(5, { status: 503 });
    const error = await dns.getRecords("x.agents.example.test").catch((e: unknown) => e);
    expect(error).toBeInstanceOf(ProviderApiError);
    expect(error).toMatchObject({ provider: "cloudflare", status: 503, providerCode: "10001", method: "GET" });
    expect((error as ProviderApiError).requestId).toMatch(/-SBX$/);
    expect((error as ProviderApiError).message).toBe("Cloudflare API: Service temporarily unavailable (injected) (10001)");
  });
});

describe("credentials and errors", () => {
  it("reports a bad token as an AuthError naming CLOUDFLARE_API_TOKEN, without the token", async () => {
    const dns = client({ token: new Secret("not-the-real-token-999") });
    const error = await routeUser(dns, { user: "hank", template: TEMPLATE, target: { address: "203.0.113.40" } }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(AuthError);
    expect((error as AuthError).message).toBe("Cloudflare rejected the API token: Invalid access token (9109)");
    expect((error as AuthError).hint).toContain("CLOUDFLARE_API_TOKEN");
    expect(((error as AuthError).cause as ProviderApiError).status).toBe(401);
    expect(`${String(error)} ${JSON.stringify(error)}`).not.toContain("not-the-real-token-999");
    expect(await dns.checkCredentials()).toEqual({ ok: false, reason: "Cloudflare rejected the API token: Invalid access token (9109)" });
  });

  it("checks credentials against the zone", async () => {
    expect(await client().checkCredentials()).toEqual({ ok: true });
    const wrongZone = await client({ zoneId: "f".repeat(32) }).checkCredentials();
    expect(wrongZone.ok).toBe(false);
    expect((wrongZone as { reason: string }).reason).toContain("(7003)");
  });

  it("surfaces API refusals from the envelope with their code, and rejects bad input before calling", async () => {
    const tiny = cf.zones.find((z) => z.name === "tiny.example.test")!.id;
    const dns = client({ zoneId: tiny });
    await dns.upsertRecord({ name: "one.tiny.example.test", type: "A", content: "203.0.113.1" });
    const error = await dns.upsertRecord({ name: "two.tiny.example.test", type: "A", content: "203.0.113.2" }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(ProviderApiError);
    expect(error).toMatchObject({ message: "Cloudflare API: Record quota exceeded. (81045)", status: 400, providerCode: "81045", exitCode: 2 });
    const before = cf.requests.length;
    await expect(client().upsertRecord({ name: "bad name.agents.example.test", type: "A", content: "203.0.113.1" })).rejects.toThrow(/not a valid DNS name/);
    await expect(client().upsertRecord({ name: "x.agents.example.test", type: "A", content: "2001:db8::1" })).rejects.toThrow(/needs an IPv4 address/);
    await expect(client().upsertRecord({ name: "x.agents.example.test", type: "CNAME", content: "x.agents.example.test" })).rejects.toThrow(/other than its own name/);
    await expect(client().upsertRecord({ name: "x.agents.example.test", type: "A", content: "203.0.113.1", ttl: 30 })).rejects.toThrow(/60\.\.86400/);
    expect(cf.requests.length).toBe(before);
  });
});

/** A raw call with the sandbox token, for arranging state behind the client's back. */
async function request(method: "POST", body: Record<string, unknown>): Promise<void> {
  const { request: send } = await import("undici");
  const res = await send(`${cf.url}/zones/${cf.zoneId}/dns_records`, {
    method,
    headers: { authorization: `Bearer ${TOKEN}`, "content-type": "application/json" },
    body: JSON.stringify(body),
  });
  await res.body.dump();
  if (res.statusCode !== 200) throw new Error(`arrange ${method} failed with ${res.statusCode}`);
}
