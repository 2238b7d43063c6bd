import { DatabaseSync } from "node:sqlite";
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from "vitest";
import pg from "pg";
import { AutomnaError } from "../../../src/lib/errors.js";
import { Secret } from "../../../src/lib/redact.js";
import { HttpStore } from "../../../src/state/http-store.js";
import { PgStore } from "../../../src/state/pg-store.js";
import { SqliteStore } from "../../../src/state/sqlite-store.js";
import type { ServerBackend } from "../../../src/state/tokens.js";
import { makeHome, ManualClock } from "../../helpers/cli.js";
import { startDropProxy, type DropProxy } from "../../helpers/drop-proxy.js";
import { startPostgres, type PgCluster } from "../../helpers/pg.js";
import { rawRequest, startTestServer, type Method, type TestServer } from "../../helpers/state-server.js";
import { instance } from "../contract.js";

type Row = Record<string, unknown>;

interface Setup {
  backend: ServerBackend;
  /** A second backend on the same database (another server process's pool, for PostgreSQL). */
  twin: () => Promise<ServerBackend>;
  /** The idempotency table as stored. */
  records: () => Promise<Row[]>;
  cleanup: () => Promise<void>;
}

let cluster: PgCluster | undefined;
beforeAll(async () => {
  cluster = await startPostgres();
});
afterAll(async () => {
  await cluster?.stop();
});

const backends: [string, (clock: ManualClock) => Promise<Setup>][] = [
  ["sqlite", async (clock) => {
    const h = makeHome();
    const backend = await SqliteStore.open(h.statePath, { now: () => clock.now(), synchronous: "FULL" });
    return {
      backend,
      // One SQLite file has one writer: a second server would share the store, as here.
      twin: async () => backend,
      records: async () => {
        const db = new DatabaseSync(h.statePath, { readOnly: true });
        try {
          return db.prepare("SELECT * FROM idempotency ORDER BY created_at").all() as Row[];
        } finally {
          db.close();
        }
      },
      cleanup: async () => (await backend.close(), h.cleanup()),
    };
  }],
  ["postgres", async (clock) => {
    const url = await cluster!.createDatabase();
    const opened: PgStore[] = [await PgStore.open(url, { now: () => clock.now() })];
    return {
      backend: opened[0]!,
      twin: async () => {
        const other = await PgStore.open(url, { now: () => clock.now() });
        opened.push(other);
        return other;
      },
      records: async () => {
        const client = new pg.Client({ connectionString: url });
        await client.connect();
        try {
          return (await client.query<Row>("SELECT * FROM idempotency ORDER BY created_at")).rows;
        } finally {
          await client.end();
        }
      },
      cleanup: async () => void (await Promise.all(opened.map((s) => s.close()))),
    };
  }],
];

for (const [name, open] of backends) {
  describe(`idempotency keys on ${name}`, () => {
    let clock: ManualClock;
    let setup: Setup;
    let srv: TestServer;
    const extra: { close(): Promise<void> }[] = [];
    const raw = (method: Method, path: string, body?: unknown, headers: Record<string, string> = {}, token = srv.tokens.write) =>
      rawRequest(srv.url, method, path, token, body, headers);
    const key = (k: string) => ({ "idempotency-key": k });
    const auditCount = async (action: string) => (await setup.backend.listAudit({ action })).length;

    beforeEach(async () => {
      clock = new ManualClock();
      setup = await open(clock);
      srv = await startTestServer(setup.backend, () => clock.now());
    });
    afterEach(async () => {
      await Promise.all(extra.splice(0).map((c) => c.close()));
      await srv.close();
      await setup.cleanup();
    });

    it("replays a repeated create with the same key: same response, applied once", async () => {
      const first = await raw("POST", "/v1/instances", instance("alice"), key("k-create"));
      const again = await raw("POST", "/v1/instances", instance("alice"), key("k-create"));
      expect(first.status).toBe(201);
      expect(first.headers["idempotent-replayed"]).toBeUndefined();
      expect(again).toMatchObject({ status: 201, text: first.text });
      expect(again.headers["idempotent-replayed"]).toBe("true");
      expect(again.headers.etag).toBe('"1"');
      expect(await setup.backend.listInstances()).toHaveLength(1);
      expect(await auditCount("instance.create")).toBe(1);

      const row = await raw("POST", "/v1/audit", { who: "wes", action: "note", target: "alice" }, key("k-audit"));
      expect(await raw("POST", "/v1/audit", { who: "wes", action: "note", target: "alice" }, key("k-audit"))).toMatchObject({ status: 201, text: row.text });
      expect(await auditCount("note")).toBe(1);
    });

    it("applies an optimistic update once: the version bumps once and the replay carries its ETag", async () => {
      const id = String((await raw("POST", "/v1/instances", instance("alice"))).json!.id);
      const patch = () => raw("PATCH", `/v1/instances/${id}`, { status: "stopped" }, { "if-match": '"1"', ...key("k-patch") });
      const first = await patch();
      const again = await patch();
      expect(first.status).toBe(200);
      expect(again).toMatchObject({ status: 200, text: first.text });
      expect(again.headers.etag).toBe('"2"');
      expect((await setup.backend.getInstanceById(id))!.version).toBe(2);
      expect(await auditCount("instance.update")).toBe(1);
      // A 204 is replayed as a 204, and the delete is not run twice.
      const del = () => raw("DELETE", `/v1/instances/${id}`, undefined, key("k-del"));
      expect((await del()).status).toBe(204);
      expect(await del()).toMatchObject({ status: 204, text: "" });
      expect(await auditCount("instance.delete")).toBe(1);
    });

    it("answers 422 for the same key on a different request, 400 for a malformed key, and leaves keyless requests as they were", async () => {
      expect((await raw("POST", "/v1/audit", { who: "wes", action: "a", target: "alice" }, key("k-1"))).status).toBe(201);
      const reused = await raw("POST", "/v1/audit", { who: "wes", action: "b", target: "alice" }, key("k-1"));
      expect(reused.status).toBe(422);
      expect(reused.json!.error).toMatchObject({ code: "idempotency_key_reused", message: "idempotency key k-1 was already used for a different request" });
      // Another path, or the same body under another If-Match, is a different request too.
      expect((await raw("POST", "/v1/operations", { kind: "x", user: "alice" }, key("k-1"))).status).toBe(422);
      for (const bad of ["", "has space", "é", "x".repeat(256)]) {
        const r = await raw("POST", "/v1/audit", { who: "wes", action: "c", target: "alice" }, { "idempotency-key": bad });
        expect(r.status, JSON.stringify(bad)).toBe(400);
      }
      expect(await auditCount("b")).toBe(0);
      expect(await auditCount("c")).toBe(0);
      // No key: every request runs (a second create clashes, as always).
      expect((await raw("POST", "/v1/instances", instance("bob"))).status).toBe(201);
      const clash = await raw("POST", "/v1/instances", instance("bob"));
      expect(clash.status).toBe(409);
      expect(clash.headers["idempotent-replayed"]).toBeUndefined();
    });

    it("scopes keys to the operator and stores the operator, never the token", async () => {
      const body = { who: "x", action: "scoped", target: "alice" };
      await raw("POST", "/v1/audit", body, key("shared-key"), srv.tokens.write);
      await raw("POST", "/v1/audit", body, key("shared-key"), srv.tokens.admin);
      expect(await auditCount("scoped")).toBe(2);
      const records = await setup.records();
      expect(records.map((r) => r.operator).sort()).toEqual(["ann", "wes"]);
      const stored = JSON.stringify(records);
      for (const token of Object.values(srv.tokens)) {
        expect(stored).not.toContain(token.split(".")[0]);
        expect(stored).not.toContain(token.split(".")[1]);
      }
    });

    it("does not record failures: a refused mutation applied nothing and runs again when retried", async () => {
      const id = String((await raw("POST", "/v1/instances", instance("alice"))).json!.id);
      const stale = () => raw("PATCH", `/v1/instances/${id}`, { status: "stopped" }, { "if-match": '"7"', ...key("k-stale") });
      expect((await stale()).status).toBe(412);
      const again = await stale();
      expect(again.status).toBe(412);
      expect(again.headers["idempotent-replayed"]).toBeUndefined();
      expect(await setup.records()).toEqual([]);
    });

    it("forgets a key after 24 hours and purges old records lazily", async () => {
      const note = (k: string) => raw("POST", "/v1/audit", { who: "wes", action: "daily", target: "alice" }, key(k));
      await note("k-old");
      await note("k-other");
      clock.advance(24 * 3_600_000 - 1);
      expect((await note("k-old")).headers["idempotent-replayed"]).toBe("true");
      clock.advance(2);
      const fresh = await note("k-old");
      expect(fresh.headers["idempotent-replayed"]).toBeUndefined();
      expect(await auditCount("daily")).toBe(3);
      // The expired k-other goes at the next purge (at most every 10 minutes), the fresh k-old stays.
      clock.advance(11 * 60_000);
      await note("k-new");
      expect((await setup.records()).map((r) => r.idem_key)).toEqual(["k-old", "k-new"]);
    });

    it("answers concurrent twins (one or two server processes) from one execution", async () => {
      const second = await startTestServer(await setup.twin(), () => clock.now());
      extra.push(second);
      const body = { kind: "migrate", user: "alice" };
      const headers = { authorization: `Bearer ${srv.tokens.write}`, ...key("k-twins") };
      const answers = await Promise.all(Array.from({ length: 8 }, (_, k) =>
        rawRequest(k % 2 ? second.url : srv.url, "POST", "/v1/operations", undefined, body, headers)));
      expect(new Set(answers.map((a) => a.status))).toEqual(new Set([201]));
      expect(new Set(answers.map((a) => a.text)).size).toBe(1);
      expect(answers.filter((a) => a.headers["idempotent-replayed"] === "true")).toHaveLength(7);
      expect(await setup.backend.listOperations()).toHaveLength(1);
    });

    it("a client retries a lost mutation only on a server that says it honours keys (an older one would apply it twice)", async () => {
      // An "older server": answers without the header, and loses every response after the request arrived.
      const { createServer } = await import("node:http");
      let posts = 0;
      const old = createServer((req, res) => {
        if (req.method === "POST") posts++;
        req.resume();
        req.on("end", () => (req.url?.startsWith("/healthz") ? res.end("{}") : res.destroy()));
      });
      await new Promise<void>((r) => old.listen(0, "127.0.0.1", () => r()));
      const port = (old.address() as { port: number }).port;
      const client = await HttpStore.open(`http://127.0.0.1:${port}`, { token: new Secret(srv.tokens.write), attempts: 4, timeoutMs: 1000 });
      try {
        const error = await client.appendAudit({ who: "wes", action: "x", target: "alice" }).catch((e: unknown) => e);
        expect((error as AutomnaError).hint).toContain("may or may not have been applied");
        expect(posts).toBe(1);
      } finally {
        await client.close();
        await new Promise((r) => old.close(r));
      }
    });

    describe("through the CLI's client, when responses are lost after the write committed", () => {
      let proxy: DropProxy;
      let store: HttpStore;
      beforeEach(async () => {
        proxy = await startDropProxy(srv.url);
        store = await HttpStore.open(proxy.url, { token: new Secret(srv.tokens.write), attempts: 4, timeoutMs: 1000 });
      });
      afterEach(async () => {
        await store.close();
        await proxy.close();
      });

      it("retries a dropped createInstance, appendAudit and updateInstance and applies each exactly once", async () => {
        proxy.lose(1);
        const created = await store.createInstance(instance("alice"));
        proxy.lose(2);
        await store.appendAudit({ who: "wes", action: "once", target: "alice" });
        proxy.lose(1);
        const updated = await store.updateInstance(created.id, { status: "stopped" }, { expectedVersion: 1 });
        expect(proxy.lost).toBe(4);
        expect(updated.version).toBe(2);
        expect(await setup.backend.listInstances()).toEqual([updated]);
        expect(await auditCount("instance.create")).toBe(1);
        expect(await auditCount("once")).toBe(1);
        expect(await auditCount("instance.update")).toBe(1);
        // The server saw every attempt: the retries were answered from the record.
        expect(srv.log.filter((l) => / POST \/v1\/audit 201 /.test(l))).toHaveLength(3);
      });

      it("retries a mutation whose response timed out", async () => {
        proxy.lose(1, "hold");
        const op = await store.createOperation({ kind: "migrate", user: "alice" });
        expect(await setup.backend.listOperations()).toEqual([op]);
        expect(await auditCount("operation.create")).toBe(1);
      });

      it("still says the outcome is unknown once the attempts run out, and applied it at most once", async () => {
        // An answer first, so the client knows this server honours keys (the probe would be lost too).
        await store.listOperations();
        proxy.lose(10);
        const error = await store.appendAudit({ who: "wes", action: "lost", target: "alice" }).catch((e: unknown) => e);
        expect(error).toBeInstanceOf(AutomnaError);
        expect((error as AutomnaError).code).toBe("state_unreachable");
        expect((error as AutomnaError).hint).toContain("may or may not have been applied");
        expect(proxy.lost).toBe(4);
        expect(await auditCount("lost")).toBe(1);
      });
    });
  });
}
