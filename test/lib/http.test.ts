import { createServer } from "node:net";
import { MockAgent } from "undici";
import { afterEach, describe, expect, it } from "vitest";
import { AuthError, ProviderApiError } from "../../src/lib/errors.js";
import { HttpClient, mayHaveCommitted, retryAfterMs, type HttpClientOptions } from "../../src/lib/http.js";
import { RateBudget } from "../../src/lib/rate-budget.js";
import { Secret } from "../../src/lib/redact.js";
import { parseDigitalOceanError } from "../../src/providers/digitalocean/client.js";
import { parseFlyError } from "../../src/providers/fly/client.js";
import { parseHetznerError } from "../../src/providers/hetzner/client.js";

const ORIGIN = "http://api.test";
const TOKEN = "tok-abcdef-123456";
let agent: MockAgent | undefined;

function client(over: Partial<HttpClientOptions> = {}): { http: HttpClient; logs: string[] } {
  const logs: string[] = [];
  const mock = new MockAgent();
  mock.disableNetConnect();
  agent = mock;
  const http = new HttpClient({
    provider: "hetzner", title: "Hetzner Cloud", baseUrl: `${ORIGIN}/v1`, token: new Secret(TOKEN), tokenEnv: "HCLOUD_TOKEN",
    urlKey: "hetzner.url", parseError: parseHetznerError, dispatcher: mock, backoffMs: 1, debug: (m) => logs.push(m), ...over,
  });
  return { http, logs };
}

afterEach(async () => {
  const a = agent;
  agent = undefined;
  await a?.close();
});

describe("HttpClient", () => {
  it("sends the bearer token and JSON, and keeps the request id", async () => {
    const { http } = client();
    agent!.get(ORIGIN).intercept({ path: "/v1/servers?name=a", method: "GET", headers: { authorization: `Bearer ${TOKEN}` } })
      .reply(200, { servers: [] }, { headers: { "x-request-id": "req-1" } });
    const res = await http.get<{ servers: unknown[] }>("/servers", { query: { name: "a" } });
    expect(res.body).toEqual({ servers: [] });
    expect(res.requestId).toBe("req-1");
  });

  it("retries a GET after 5xx with backoff, then succeeds", async () => {
    const { http, logs } = client();
    const pool = agent!.get(ORIGIN);
    pool.intercept({ path: "/v1/servers", method: "GET" }).reply(503, { error: { code: "unavailable", message: "try later" } });
    pool.intercept({ path: "/v1/servers", method: "GET" }).reply(500, { error: { code: "server_error", message: "boom" } });
    pool.intercept({ path: "/v1/servers", method: "GET" }).reply(200, { servers: [1] });
    expect((await http.get("/servers")).body).toEqual({ servers: [1] });
    expect(logs.filter((l) => l.includes("retry")).length).toBe(2);
  });

  it("never resends a POST that got a 504: the caller must look its marker up", async () => {
    const { http } = client();
    agent!.get(ORIGIN).intercept({ path: "/v1/servers", method: "POST" }).reply(504, { error: { code: "timeout", message: "gateway" } });
    const err = await http.post("/servers", { name: "x" }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ProviderApiError);
    expect((err as ProviderApiError).status).toBe(504);
    expect(mayHaveCommitted(err)).toBe(true);
    // A second POST would have hit an unmatched interceptor and failed differently.
    agent!.assertNoPendingInterceptors();
  });

  it("waits for Retry-After on 429 and then retries, even a POST", async () => {
    const budget = new RateBudget({ global: [{ capacity: 10, perSecond: 1000 }] });
    const { http, logs } = client({ budget });
    const pool = agent!.get(ORIGIN);
    pool.intercept({ path: "/v1/servers", method: "POST" }).reply(429, { error: { code: "rate_limit_exceeded", message: "slow down" } }, { headers: { "retry-after": "0.05" } });
    pool.intercept({ path: "/v1/servers", method: "POST" }).reply(201, { server: { id: 1 } });
    expect((await http.post("/servers", {})).status).toBe(201);
    expect(logs.some((l) => l.includes("429, waiting 50 ms"))).toBe(true);
  });

  it("turns 401 into an AuthError naming the environment variable, without the token", async () => {
    const { http } = client();
    agent!.get(ORIGIN).intercept({ path: "/v1/servers", method: "GET" }).reply(401, { error: { code: "unauthorized", message: "unable to authenticate" } });
    const err = (await http.get("/servers").catch((e: unknown) => e)) as AuthError;
    expect(err).toBeInstanceOf(AuthError);
    expect(err.message).toContain("Hetzner Cloud rejected the API token");
    expect(err.hint).toContain("HCLOUD_TOKEN");
    expect(`${err.message} ${err.hint}`).not.toContain(TOKEN);
  });

  it("refuses to call without a token, naming the variable", async () => {
    const { http } = client({ token: undefined });
    const err = (await http.get("/servers").catch((e: unknown) => e)) as AuthError;
    expect(err).toBeInstanceOf(AuthError);
    expect(err.hint).toContain("export HCLOUD_TOKEN=");
  });

  it("parses Hetzner field errors into per-field lines", async () => {
    const { http } = client();
    agent!.get(ORIGIN).intercept({ path: "/v1/servers", method: "POST" }).reply(422, {
      error: { code: "invalid_input", message: "invalid input in field 'server_type'", details: { fields: [{ name: "server_type", messages: ["unknown server type"] }] } },
    });
    const err = (await http.post("/servers", {}).catch((e: unknown) => e)) as ProviderApiError;
    expect(err.providerCode).toBe("invalid_input");
    expect(err.fields).toEqual([{ field: "server_type", messages: ["unknown server type"] }]);
    expect(err.message).toContain("server_type: unknown server type");
    expect(err.exitCode).toBe(2);
  });

  it("parses DigitalOcean and Fly error bodies", () => {
    expect(parseDigitalOceanError(422, { id: "unprocessable_entity", message: "You specified an invalid size for Droplet creation.", request_id: "r-9" }))
      .toEqual({ message: "You specified an invalid size for Droplet creation.", code: "unprocessable_entity", requestId: "r-9", fields: [{ field: "size", messages: ["You specified an invalid size for Droplet creation."] }] });
    expect(parseFlyError(422, { error: "app name already taken", status: "name_taken" })).toMatchObject({ message: "app name already taken", code: "name_taken" });
    expect(parseFlyError(500, { error: "oops", status: "unknown" }).code).toBeUndefined();
  });

  it("logs requests in debug output with the token redacted", async () => {
    const { http, logs } = client();
    agent!.get(ORIGIN).intercept({ path: "/v1/ssh_keys", method: "POST" }).reply(201, { ssh_key: { id: 1 } });
    await http.post("/ssh_keys", { note: `my token is ${TOKEN}` });
    const { redact } = await import("../../src/lib/redact.js");
    expect(logs.some((l) => l.startsWith("→ POST http://api.test/v1/ssh_keys"))).toBe(true);
    expect(logs.map(redact).join("\n")).not.toContain(TOKEN);
  });

  it("reports an unreachable API clearly after brief retries", async () => {
    const server = createServer();
    await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
    const port = (server.address() as { port: number }).port;
    await new Promise<void>((r) => server.close(() => r()));
    const http = new HttpClient({
      provider: "fly", title: "Fly.io", baseUrl: `http://127.0.0.1:${port}`, token: new Secret(TOKEN), tokenEnv: "FLY_API_TOKEN",
      urlKey: "fly.url", parseError: parseFlyError, backoffMs: 1,
    });
    const err = (await http.get("/v1/apps").catch((e: unknown) => e)) as ProviderApiError;
    await http.close();
    expect(err).toBeInstanceOf(ProviderApiError);
    expect(err.providerCode).toBe("unreachable");
    expect(err.message).toBe(`cannot reach the Fly.io API at http://127.0.0.1:${port} (ECONNREFUSED)`);
    expect(err.hint).toContain("fly.url");
    expect(mayHaveCommitted(err)).toBe(false);
  });
});

describe("retryAfterMs", () => {
  it("reads Retry-After seconds, an HTTP date, or an epoch RateLimit-Reset", () => {
    const now = Date.parse("2026-11-29T12:00:00Z");
    expect(retryAfterMs({ "retry-after": "3" }, now)).toBe(3000);
    expect(retryAfterMs({ "retry-after": "Sun, 29 Nov 2026 12:00:05 GMT" }, now)).toBe(5000);
    expect(retryAfterMs({ "ratelimit-reset": String(now / 1000 + 2) }, now)).toBe(2000);
    expect(retryAfterMs({}, now)).toBeUndefined();
  });
});
