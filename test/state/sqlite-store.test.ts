import { createHash } from "node:crypto";
import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { DatabaseSync } from "node:sqlite";
import { afterEach, describe, expect, it } from "vitest";
import { execa } from "execa";
import { LockedError } from "../../src/lib/errors.js";
import { SCHEMA_VERSION } from "../../src/state/schema.js";
import { SchemaTooNewError, SqliteStore } from "../../src/state/sqlite-store.js";
import { makeHome, type Sandbox } from "../helpers/cli.js";
import { describeAuditedStoreContract, describeStoreContract, instance } from "./contract.js";

const homes: Sandbox[] = [];
function home(): Sandbox {
  const h = makeHome();
  homes.push(h);
  return h;
}
afterEach(() => {
  for (const h of homes.splice(0)) h.cleanup();
});

describeStoreContract("sqlite", async (clock) => {
  const h = makeHome();
  const store = await SqliteStore.open(h.statePath, { now: () => clock.now() });
  return { store, cleanup: async () => (await store.close(), h.cleanup()) };
});

describeAuditedStoreContract("sqlite", async (clock) => {
  const h = makeHome();
  const backend = await SqliteStore.open(h.statePath, { now: () => clock.now() });
  return { backend, cleanup: async () => (await backend.close(), h.cleanup()) };
});

describe("SqliteStore on disk", () => {
  it("uses WAL and records the schema version", async () => {
    const h = home();
    const store = await SqliteStore.open(h.statePath);
    await store.close();
    const db = new DatabaseSync(h.statePath);
    expect(db.prepare("PRAGMA journal_mode").get()).toEqual({ journal_mode: "wal" });
    expect(db.prepare("PRAGMA user_version").get()).toEqual({ user_version: SCHEMA_VERSION });
    db.close();
  });

  it("refuses a database from a newer schema and leaves it byte-for-byte untouched", async () => {
    const h = home();
    const store = await SqliteStore.open(h.statePath);
    await store.createInstance(instance("alice"));
    await store.close();
    const db = new DatabaseSync(h.statePath);
    db.exec("PRAGMA wal_checkpoint(TRUNCATE)");
    db.exec(`PRAGMA user_version = ${SCHEMA_VERSION + 1}`);
    db.exec("PRAGMA journal_mode = DELETE");
    db.close();
    const before = createHash("sha256").update(readFileSync(h.statePath)).digest("hex");
    await expect(SqliteStore.open(h.statePath)).rejects.toBeInstanceOf(SchemaTooNewError);
    expect(createHash("sha256").update(readFileSync(h.statePath)).digest("hex")).toBe(before);
  });

  it("upgrades a database from an older schema forward, keeping its rows", async () => {
    const h = home();
    const { mkdirSync } = await import("node:fs");
    const { dirname } = await import("node:path");
    const { MIGRATIONS } = await import("../../src/state/schema.js");
    mkdirSync(dirname(h.statePath), { recursive: true });
    const old = new DatabaseSync(h.statePath);
    old.exec(MIGRATIONS[0]!);
    old.exec("PRAGMA user_version = 1");
    old.exec(`INSERT INTO instances VALUES ('ins_1','alice','live','hetzner','fsn1','cx22','img','{}','{}','running',NULL,'{}','2026-01-01T00:00:00.000Z','2026-01-01T00:00:00.000Z',1)`);
    old.close();
    const store = await SqliteStore.open(h.statePath);
    expect((await store.getInstance("alice"))?.size).toBe("cx22");
    await store.close();
    const db = new DatabaseSync(h.statePath);
    expect(db.prepare("PRAGMA user_version").get()).toEqual({ user_version: SCHEMA_VERSION });
    expect(db.prepare("SELECT name FROM sqlite_master WHERE name = 'usage_user_start'").get()).toEqual({ name: "usage_user_start" });
    expect(db.prepare("SELECT name FROM sqlite_master WHERE name = 'idempotency'").get()).toEqual({ name: "idempotency" });
    db.close();
  });

  it("keeps data across reopen", async () => {
    const h = home();
    const a = await SqliteStore.open(h.statePath);
    await a.createInstance(instance("alice"));
    await a.close();
    const b = await SqliteStore.open(h.statePath);
    expect((await b.getInstance("alice"))?.region).toBe("fsn1");
    await b.close();
  });

  it("waits for the busy timeout, then names the process holding the database", async () => {
    const h = home();
    const store = await SqliteStore.open(h.statePath, { busyTimeoutMs: 300 });
    // Another process takes the write lock and keeps it.
    const holderScript = join(h.dir, "hold.mjs");
    writeFileSync(holderScript, `
      import { DatabaseSync } from "node:sqlite";
      const db = new DatabaseSync(${JSON.stringify(h.statePath)});
      db.exec("BEGIN IMMEDIATE");
      process.stdout.write("locked\\n");
      setTimeout(() => { db.exec("ROLLBACK"); process.exit(0); }, 20000);
    `);
    const child = execa(process.execPath, [holderScript]);
    await new Promise<void>((resolve) => child.stdout!.once("data", () => resolve()));
    const started = Date.now();
    const err = await store.createInstance(instance("alice")).catch((e: unknown) => e);
    child.kill();
    await child.catch(() => undefined);
    expect(Date.now() - started).toBeGreaterThanOrEqual(250);
    expect(err).toBeInstanceOf(LockedError);
    expect((err as LockedError).message).toContain(`pid ${child.pid}`);
    expect((err as LockedError).message).toContain("hold.mjs");
    // Nothing half-written: the store works once the holder is gone.
    await store.createInstance(instance("alice"));
    expect(await store.listInstances()).toHaveLength(1);
    await store.close();
  });

  it("rejects changes to the audit log", async () => {
    const h = home();
    const store = await SqliteStore.open(h.statePath);
    await store.appendAudit({ who: "ann", action: "x", target: "y" });
    await store.close();
    const db = new DatabaseSync(h.statePath);
    expect(() => db.exec("UPDATE audit SET who = 'mallory'")).toThrow(/append-only/);
    expect(() => db.exec("DELETE FROM audit")).toThrow(/append-only/);
    db.close();
  });
});
