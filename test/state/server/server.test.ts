import { request } from "undici";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { ConflictError, LockedError } from "../../../src/lib/errors.js";
import { Secret } from "../../../src/lib/redact.js";
import { HttpStore } from "../../../src/state/http-store.js";
import { updateInstanceRetrying } from "../../../src/state/retry.js";
import { SqliteStore } from "../../../src/state/sqlite-store.js";
import { until } from "../../helpers/budget.js";
import { makeHome, ManualClock, type Sandbox } from "../../helpers/cli.js";
import { createToken, rawRequest, rawSocket, startTestServer, type Method, type TestServer } from "../../helpers/state-server.js";
import { instance } from "../contract.js";

let home: Sandbox;
let backend: SqliteStore;
let srv: TestServer;
let clock: ManualClock;

beforeEach(async () => {
  home = makeHome();
  clock = new ManualClock();
  backend = await SqliteStore.open(home.statePath, { now: () => clock.now() });
  srv = await startTestServer(backend, () => clock.now());
});
afterEach(async () => {
  await srv.close();
  await backend.close();
  home.cleanup();
});

const raw = (method: Method, path: string, token?: string, body?: unknown, headers: Record<string, string> = {}) =>
  rawRequest(srv.url, method, path, token, body, headers);

describe("state server: auth", () => {
  it("serves /healthz without a token and everything else only with one", async () => {
    expect(await raw("GET", "/healthz")).toMatchObject({ status: 200, json: { status: "ok", backend: "sqlite" } });
    const none = await raw("GET", "/v1/instances");
    expect(none.status).toBe(401);
    expect(none.headers["www-authenticate"]).toBe('Bearer realm="automna-state"');
    expect(none.json!.error).toMatchObject({ code: "unauthorized", message: "a bearer token is required" });
    const [id, secret] = srv.tokens.read.split(".");
    for (const bad of ["garbage", `${id}.${"A".repeat(43)}`, `tok_000000000000000000000.${secret}`, `${srv.tokens.read}x`]) {
      const r = await raw("GET", "/v1/instances", bad);
      expect(r.status).toBe(401);
      expect(r.json!.error!.code).toBe("unauthorized");
      expect(r.text).not.toContain(bad);
    }
  });

  it("refuses a revoked token at once", async () => {
    expect((await raw("GET", "/v1/leases", srv.tokens.read)).status).toBe(200);
    await backend.revokeToken(srv.tokens.read.split(".")[0]!);
    expect((await raw("GET", "/v1/leases", srv.tokens.read)).status).toBe(401);
  });

  it("answers 403 when the scope is too small: read cannot write, write cannot break", async () => {
    const w = await raw("POST", "/v1/instances", srv.tokens.read, instance("alice"));
    expect(w.status).toBe(403);
    expect(w.json!.error).toMatchObject({ code: "forbidden" });
    expect(String(w.json!.error!.message)).toContain("has scope read; POST /v1/instances needs write");
    const lease = (await raw("PUT", "/v1/leases/alice", srv.tokens.write, { holder: { who: "x", operation: "op" }, ttlMs: 60_000 })).json!;
    const b = await raw("POST", "/v1/leases/alice/break", srv.tokens.write, { leaseId: lease.leaseId });
    expect(b.status).toBe(403);
    expect((await raw("POST", "/v1/leases/alice/break", srv.tokens.admin, { leaseId: lease.leaseId })).status).toBe(200);
    // Nothing was written by the refused requests.
    expect(await backend.listInstances()).toEqual([]);
  });

  it("takes identity from the token: a write token cannot hold leases or write audit rows as someone else", async () => {
    const lease = (await raw("PUT", "/v1/leases/alice", srv.tokens.write, { holder: { who: "mallory", operation: "op" }, ttlMs: 60_000 })).json!;
    expect(lease.holder).toEqual({ who: "wes", operation: "op" });
    const row = (await raw("POST", "/v1/audit", srv.tokens.write, { who: "mallory", action: "x", target: "alice" })).json!;
    expect(row.who).toBe("wes");
    expect((await raw("GET", "/v1/whoami", srv.tokens.read)).json).toMatchObject({ operator: "rae", scope: "read" });
  });
});

describe("state server: leases belong to their holder", () => {
  it("lets a second operator's write token neither release nor renew a lease; the holder and an admin may", async () => {
    const wil = await createToken(backend, "wil", "write");
    const lease = (await raw("PUT", "/v1/leases/alice", srv.tokens.write, { holder: { who: "wes", operation: "op_migrate" }, ttlMs: 60_000 })).json!;
    const id = String(lease.leaseId);
    const refused = [
      await raw("DELETE", `/v1/leases/alice/${id}`, wil),
      await raw("POST", "/v1/leases/alice/renew", wil, { leaseId: id, ttlMs: 7 * 24 * 3_600_000 }),
    ];
    for (const r of refused) {
      expect(r.status).toBe(403);
      expect(r.json!.error).toMatchObject({
        code: "forbidden",
        message: `lease ${id} on alice is held by wes, not wil; only its holder or an admin may renew or release it`,
        hint: `an admin can break it: automna lock break alice --lease ${id}`,
      });
    }
    expect(await backend.getLease("alice")).toMatchObject({ leaseId: id, expiresAt: "2026-11-29T12:01:00.000Z" });
    expect((await raw("POST", "/v1/leases/alice/renew", srv.tokens.write, { leaseId: id, ttlMs: 120_000 })).status).toBe(200);
    expect((await raw("DELETE", `/v1/leases/alice/${id}`, srv.tokens.admin)).status).toBe(204);
    expect(await backend.getLease("alice")).toBeUndefined();
    // Through the client: the typed error, exit 1 with the hint.
    const mine = await (await srv.client("write")).acquireLease("bob", { who: "wes", operation: "op" }, 60_000);
    const other = await HttpStore.open(srv.url, { token: new Secret(wil), attempts: 1 });
    try {
      await expect(other.releaseLease({ user: "bob", leaseId: mine.leaseId })).rejects.toMatchObject({ code: "forbidden", exitCode: 1 });
    } finally {
      await other.close();
    }
    expect((await backend.listAudit({ action: "lease.release" })).map((r) => r.who)).toEqual(["ann"]);
  });
});

describe("state server: errors and validation", () => {
  it("rejects invalid requests with 400 and says what is wrong", async () => {
    const badUser = await raw("POST", "/v1/instances", srv.tokens.write, instance("Not_Valid"));
    expect(badUser.status).toBe(400);
    expect(badUser.json!.error).toMatchObject({ code: "invalid_request" });
    expect(String(badUser.json!.error!.message)).toContain("user");
    // The CLI's own id rule: no id ending in '-' (it becomes part of hostnames and Fly app names).
    expect((await raw("POST", "/v1/instances", srv.tokens.write, instance("bob-"))).status).toBe(400);
    expect((await raw("GET", "/v1/instances?users=alice,bob-", srv.tokens.read)).status).toBe(400);
    const extra = await raw("POST", "/v1/instances", srv.tokens.write, { ...instance("alice"), colour: "red" });
    expect(extra.status).toBe(400);
    const notJson = await raw("POST", "/v1/instances", srv.tokens.write, undefined, { "content-type": "application/json" });
    expect(notJson.status).toBe(400);
    const a = (await raw("POST", "/v1/instances", srv.tokens.write, instance("alice"))).json!;
    expect((await raw("PATCH", `/v1/instances/${String(a.id)}`, srv.tokens.write, { status: "stopped" }, { "automna-lease": "nonsense" })).status).toBe(400);
    expect((await raw("PATCH", `/v1/instances/${String(a.id)}`, srv.tokens.write, { status: "stopped" }, { "if-match": "yesterday" })).status).toBe(400);
    expect((await raw("GET", "/v1/nope", srv.tokens.read)).status).toBe(404);
  });

  it("answers a body nested 10,000 deep with 400, not a stack overflow's 500, in the error shape", async () => {
    const nest = (depth: number): string => `${"[".repeat(depth)}${"]".repeat(depth)}`;
    const send = (path: string, method: Method, body: string) =>
      request(`${srv.url}${path}`, { method, headers: { authorization: `Bearer ${srv.tokens.write}`, "content-type": "application/json" }, body });
    const a = (await raw("POST", "/v1/instances", srv.tokens.write, instance("alice"))).json!;
    for (const [method, path, body] of [
      ["POST", "/v1/operations", `{"kind":"migrate","user":"alice","params":{"deep":${nest(10_000)}}}`],
      ["PATCH", `/v1/instances/${String(a.id)}`, `{"meta":{"deep":${nest(10_000)}}}`],
      ["POST", "/v1/operations", `{"kind":"migrate","user":"alice","params":{"deep":${nest(64)}}}`],
    ] as const) {
      const res = await send(path, method, body);
      const text = await res.body.text();
      expect([res.statusCode, text], path).toEqual([400, expect.stringMatching(/^\{"error":\{"code":"invalid_request","message":"invalid request: the JSON body nests deeper than 64 levels","requestId":"req_\w+"\}\}$/)]);
    }
    const fine = await send("/v1/operations", "POST", `{"kind":"migrate","user":"alice","params":{"deep":${nest(60)}}}`);
    expect(fine.statusCode).toBe(201);
    await fine.body.dump();
    expect((await backend.getInstanceById(String(a.id)))?.version).toBe(1);
  });

  it("answers an over-long URL (414), a malformed one and malformed HTTP in the error shape, not Fastify's", async () => {
    const long = await raw("GET", `/v1/leases/${"a".repeat(5000)}`, srv.tokens.read);
    expect(long.status).toBe(414);
    expect(long.json).toEqual({ error: { code: "invalid_request", message: "invalid request: a path parameter is longer than 100 characters", requestId: expect.stringMatching(/^req_\w+$/) } });
    expect(long.headers["x-request-id"]).toBe(long.json!.error!.requestId);
    const badUrl = await raw("GET", "/v1/instances/%E0%A4%A", srv.tokens.read);
    expect(badUrl.status).toBe(400);
    expect(badUrl.json!.error).toMatchObject({ code: "invalid_request", message: "invalid request: the URL is not validly encoded" });
    const garbled = await rawSocket(srv.url, "NOT HTTP AT ALL\r\n\r\n");
    expect(garbled).toMatch(/^HTTP\/1\.1 400 Bad Request\r\n[^]*\r\n\r\n\{"error":\{"code":"invalid_request","message":"malformed HTTP request"\}\}$/);
  });

  it("answers 412 for a stale version, 409 for a clash and 423 naming the holder", async () => {
    const created = await raw("POST", "/v1/instances", srv.tokens.write, instance("alice"));
    expect(created.status).toBe(201);
    expect(created.headers.etag).toBe('"1"');
    const id = String(created.json!.id);
    expect((await raw("PATCH", `/v1/instances/${id}`, srv.tokens.write, { status: "stopped" }, { "if-match": '"1"' })).headers.etag).toBe('"2"');
    const stale = await raw("PATCH", `/v1/instances/${id}`, srv.tokens.write, { status: "running" }, { "if-match": '"1"' });
    expect(stale.status).toBe(412);
    expect(stale.json!.error).toMatchObject({ code: "version_conflict" });
    expect((await raw("POST", "/v1/instances", srv.tokens.write, instance("alice"))).status).toBe(409);
    const lease = (await raw("PUT", "/v1/leases/alice", srv.tokens.admin, { holder: { who: "ann", operation: "op_migrate" }, ttlMs: 60_000 })).json!;
    const locked = await raw("PUT", "/v1/leases/alice", srv.tokens.write, { holder: { who: "wes", operation: "op_other" }, ttlMs: 60_000 });
    expect(locked.status).toBe(423);
    expect(locked.json!.error).toMatchObject({
      code: "locked",
      holder: { who: "ann", operation: "op_migrate", since: "2026-11-29T12:00:00.000Z", leaseId: lease.leaseId, expiresAt: "2026-11-29T12:01:00.000Z" },
    });
    // Writes without the lease are refused the same way; with it, they pass.
    expect((await raw("PATCH", `/v1/instances/${id}`, srv.tokens.write, { status: "running" })).status).toBe(423);
    expect((await raw("PATCH", `/v1/instances/${id}`, srv.tokens.write, { status: "running" }, { "automna-lease": `alice:${String(lease.leaseId)}` })).status).toBe(200);
  });

  it("maps everything back to the embedded store's typed errors in the HTTP client", async () => {
    const store = await srv.client("write");
    const a = await store.createInstance(instance("alice"));
    await store.updateInstance(a.id, { status: "stopped" });
    const stale = await store.updateInstance(a.id, { status: "running" }, { expectedVersion: 1 }).catch((e: unknown) => e);
    expect(stale).toBeInstanceOf(ConflictError);
    expect((stale as ConflictError).code).toBe("version_conflict");
    await store.acquireLease("bob", { who: "x", operation: "op_1" }, 60_000);
    const locked = await store.acquireLease("bob", { who: "y", operation: "op_2" }, 60_000).catch((e: unknown) => e);
    expect(locked).toBeInstanceOf(LockedError);
    expect((locked as LockedError).holder).toMatchObject({ who: "wes", operation: "op_1" });
    expect((locked as LockedError).exitCode).toBe(4);
  });
});

describe("state server: audit and secrecy", () => {
  it("appends an audit row, stamped with the operator and request id, for every mutation", async () => {
    const store = await srv.client("write");
    const a = await store.createInstance(instance("alice"));
    await store.updateInstance(a.id, { status: "stopped" });
    const u = await store.openUsage({ user: "alice", instanceId: a.id, provider: "hetzner", size: "cx22", region: "fsn1", kind: "server", quantity: 1, hourlyPrice: 0.006, monthlyPrice: 3.79, currency: "EUR", start: "2026-11-29T11:00:00.000Z" });
    await store.closeUsage(a.id, "2026-11-29T12:00:00.000Z");
    const op = await store.createOperation({ kind: "migrate", user: "alice" });
    await store.updateOperation(op.id, { step: "copy" });
    await store.appendJournal(op.id, { step: "copy", phase: "intent" });
    const l = await store.acquireLease("bob", { who: "wes", operation: "op" }, 60_000);
    await store.renewLease({ user: "bob", leaseId: l.leaseId }, 60_000);
    await store.releaseLease({ user: "bob", leaseId: l.leaseId });
    await store.deleteInstance(a.id);
    const l2 = await store.acquireLease("bob", { who: "wes", operation: "op" }, 60_000);
    await (await srv.client("admin")).breakLease("bob", l2.leaseId);
    // Refused and read-only requests leave no row.
    await store.createInstance(instance("Bad_User")).catch(() => undefined);
    await store.listInstances();
    const rows = await backend.listAudit();
    expect(rows.map((r) => [r.who, r.action, r.target])).toEqual([
      ["wes", "instance.create", "alice"], ["wes", "instance.update", "alice"], ["wes", "usage.open", "alice"], ["wes", "usage.close", "alice"],
      ["wes", "operation.create", "alice"], ["wes", "operation.update", "alice"], ["wes", "journal.append", "alice"],
      ["wes", "lease.acquire", "bob"], ["wes", "lease.renew", "bob"], ["wes", "lease.release", "bob"], ["wes", "instance.delete", "alice"],
      ["wes", "lease.acquire", "bob"], ["ann", "lease.break", "bob"],
    ]);
    expect(rows.every((r) => /^req_/.test(r.requestId ?? ""))).toBe(true);
    expect(new Set(rows.map((r) => r.requestId)).size).toBe(rows.length);
    expect(rows.find((r) => r.action === "usage.open")!.details).toMatchObject({ id: u.id, instanceId: a.id });
  });

  it("never puts a token in its log or in any response", async () => {
    const seen: string[] = [];
    const probe = async (...args: Parameters<typeof raw>) => {
      const r = await raw(...args);
      seen.push(r.text, JSON.stringify(r.headers));
    };
    const forged = `${srv.tokens.write.split(".")[0]}.${"B".repeat(43)}`;
    for (const token of [...Object.values(srv.tokens), forged, "not-a-token-at-all-0123456789"]) {
      await probe("GET", "/v1/whoami", token);
      await probe("POST", "/v1/instances", token, instance("alice"));
      await probe("POST", "/v1/instances", token, { bogus: true });
      await probe("GET", "/v1/nope", token);
    }
    const everything = [...seen, ...srv.log].join("\n");
    expect(srv.log.length).toBeGreaterThanOrEqual(20);
    for (const token of [...Object.values(srv.tokens), forged, "not-a-token-at-all-0123456789"]) {
      expect(everything).not.toContain(token);
      expect(everything).not.toContain(token.split(".")[1] ?? token);
    }
    // The stored hashes do not leak either.
    for (const t of await backend.listTokens()) expect(everything).not.toContain((await backend.getToken(t.id))!.hash);
  });
});

describe("state server: concurrency", () => {
  it("loses no update when clients race read-modify-write through it (re-read and retry on 412)", async () => {
    const a = await backend.createInstance(instance("alice", { meta: { n: 0 } }));
    const clients = await Promise.all([srv.client("write"), srv.client("write"), srv.client("write")]);
    await Promise.all(Array.from({ length: 24 }, (_, k) =>
      updateInstanceRetrying(clients[k % 3]!, a.id, (cur) => ({ meta: { n: Number(cur.meta.n) + 1 } }), { attempts: 100 })));
    const done = (await backend.getInstanceById(a.id))!;
    expect(done.meta.n).toBe(24);
    expect(done.version).toBe(25);
  });

  it("keeps a held lease alive with heartbeats and reports it lost once broken", async () => {
    const { holdLeases } = await import("../../../src/state/lease.js");
    const store = await srv.client("write");
    const lost: string[] = [];
    const held = await holdLeases(store, ["bob", "alice"], { who: "wes", operation: "op" }, { ttlMs: 10_000, heartbeatMs: 20, onLost: (u) => lost.push(u) });
    expect(held.leases.map((l) => l.user)).toEqual(["alice", "bob"]);
    clock.advance(8_000);
    // Both leases renewed (one request each) before the clock passes their first expiry: on a busy
    // machine bob's renewal can lag alice's, and advancing then would lose bob's lease too.
    const renewed = async (user: string) => (await backend.getLease(user))?.expiresAt === "2026-11-29T12:00:18.000Z";
    await until(async () => (await renewed("alice")) && (await renewed("bob")));
    clock.advance(8_000); // past the first expiry (12:00:10): still held thanks to the heartbeat
    expect((await backend.getLease("alice"))?.leaseId).toBe(held.ref("alice").leaseId);
    await backend.breakLease("alice", held.ref("alice").leaseId);
    await until(() => lost.length > 0);
    expect(lost).toEqual(["alice"]);
    await held.release();
    expect(await backend.listLeases()).toEqual([]);
  });

  it("finishes requests in flight on shutdown and loses no acknowledged write", async () => {
    const store = await HttpStore.open(srv.url, { token: new Secret(srv.tokens.write), attempts: 1, connections: 16 });
    const acked: string[] = [];
    let refused = 0;
    const writes = Array.from({ length: 300 }, (_, k) =>
      store.createOperation({ kind: "test", user: `u${k}` }).then((op) => acked.push(op.id), () => refused++));
    // Close while writes are still arriving: some were acknowledged, others are in flight or queued.
    for (let i = 0; i < 500 && acked.length < 20; i++) await new Promise((r) => setTimeout(r, 2));
    await srv.server.close();
    await Promise.all(writes);
    await store.close();
    const stored = new Set((await backend.listOperations()).map((o) => o.id));
    expect(acked.length).toBeGreaterThanOrEqual(20);
    expect(acked.length + refused).toBe(300);
    for (const id of acked) expect(stored.has(id)).toBe(true);
    // And what was refused (503 while closing, or no connection) was not applied.
    expect(stored.size).toBe(acked.length);
  });
});
