import { join } from "node:path";
import { DatabaseSync } from "node:sqlite";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { Secret } from "../../../src/lib/redact.js";
import { HttpStore } from "../../../src/state/http-store.js";
import { SqliteStore } from "../../../src/state/sqlite-store.js";
import { OPERATIONS_PAGE_MAX } from "../../../src/state/wire.js";
import { makeHome, runCli, type Sandbox } from "../../helpers/cli.js";
import { startTestServer, type TestServer } from "../../helpers/state-server.js";

let home: Sandbox;
let backend: SqliteStore;
let srv: TestServer;

beforeEach(async () => {
  home = makeHome();
  backend = await SqliteStore.open(join(home.dir, "server.db"));
  srv = await startTestServer(backend);
});
afterEach(async () => {
  await srv.close();
  await backend.close();
  home.cleanup();
});

/** Migrations written straight into the server's database, in one transaction (fast, and ids in order). */
function seedMigrations(count: number, status: (n: number) => string): string[] {
  const db = new DatabaseSync(join(home.dir, "server.db"), { timeout: 5000 });
  const insert = db.prepare(`INSERT INTO operations (id, kind, user, status, step, params, data, error, created_at, updated_at, version)
    VALUES (?, 'migrate', ?, ?, 'warm-upload', '{"from":"hetzner","to":"fly"}', '{}', NULL, '2026-11-29T12:00:00.000Z', '2026-11-29T12:00:00.000Z', 1)`);
  const ids: string[] = [];
  db.exec("BEGIN");
  for (let n = 0; n < count; n++) {
    const id = `op_${String(n).padStart(6, "0")}`;
    insert.run(id, `u${n % 97}`, status(n));
    ids.push(id);
  }
  db.exec("COMMIT");
  db.close();
  return ids.reverse();
}

const operationRequests = (): string[] => srv.log.filter((l) => / GET \/v1\/operations 200 /.test(l));

describe("operations over the state server, in pages", () => {
  it("the client follows pages (newest first, before=<last id>) for as many as asked, or all", async () => {
    const newestFirst = seedMigrations(25, () => "succeeded");
    const store = await HttpStore.open(srv.url, { token: new Secret(srv.tokens.read), pageSize: 10 });
    try {
      expect((await store.listOperations()).map((o) => o.id)).toEqual(newestFirst);
      expect(operationRequests()).toHaveLength(3);
      expect((await store.listOperations({ limit: 13 })).map((o) => o.id)).toEqual(newestFirst.slice(0, 13));
      expect((await store.listOperations({ limit: 20 })).map((o) => o.id)).toEqual(newestFirst.slice(0, 20));
      expect((await store.listOperations({ before: newestFirst[4], limit: 3 })).map((o) => o.id)).toEqual(newestFirst.slice(5, 8));
    } finally {
      await store.close();
    }
    // The server never answers more than a page, asked or not.
    const env = { ...home.env, AUTOMNA_STATE_URL: srv.url, AUTOMNA_STATE_TOKEN: srv.tokens.read };
    expect((await runCli(["migrate", "status", "-o", "json", "--limit", "3"], { env })).json<{ op: string }[]>().map((r) => r.op)).toEqual(newestFirst.slice(0, 3));
  });

  it(`migrate status works with more than ${OPERATIONS_PAGE_MAX} operations: every unfinished one first, then the newest`, async () => {
    const total = OPERATIONS_PAGE_MAX + 50;
    // The oldest five are unfinished: a list of only the newest would miss them.
    const newestFirst = seedMigrations(total, (n) => (n < 5 ? "failed" : "succeeded"));
    const env = { ...home.env, AUTOMNA_STATE_URL: srv.url, AUTOMNA_STATE_TOKEN: srv.tokens.read };
    const recent = await runCli(["migrate", "status", "-o", "json"], { env });
    expect(recent.stderr).toBe("");
    expect(recent.code).toBe(0);
    const rows = recent.json<{ op: string; status: string }[]>();
    expect(rows).toHaveLength(50);
    expect(rows.slice(0, 5).map((r) => [r.op, r.status])).toEqual(newestFirst.slice(-5).map((id) => [id, "failed"]));
    expect(rows.slice(5).map((r) => r.op)).toEqual(newestFirst.slice(0, 45));

    const everything = await runCli(["migrate", "status", "-o", "json", "--limit", "100000"], { env });
    expect(everything.code).toBe(0);
    const all = everything.json<{ op: string }[]>();
    expect(all).toHaveLength(total);
    expect(new Set(all.map((r) => r.op)).size).toBe(total);
    expect(operationRequests().every((l) => !/ 400 /.test(l))).toBe(true);
  });
});
