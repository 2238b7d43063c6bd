import { afterAll, beforeAll, describe, expect, it } from "vitest";
import pg from "pg";
import { ConflictError, LockedError } from "../../src/lib/errors.js";
import { PgSchemaTooNewError, PG_MIGRATIONS, PG_SCHEMA_VERSION } from "../../src/state/pg-schema.js";
import { PgStore } from "../../src/state/pg-store.js";
import { startPostgres, type PgCluster } from "../helpers/pg.js";
import { describeAuditedStoreContract, describeStoreContract, instance } from "./contract.js";

let cluster: PgCluster;
beforeAll(async () => {
  cluster = await startPostgres();
});
afterAll(async () => {
  await cluster?.stop();
});

describeStoreContract("postgres", async (clock) => {
  const store = await PgStore.open(await cluster.createDatabase(), { now: () => clock.now() });
  return { store, cleanup: () => store.close() };
});

describeAuditedStoreContract("postgres", async (clock) => {
  const backend = await PgStore.open(await cluster.createDatabase(), { now: () => clock.now() });
  return { backend, cleanup: () => backend.close() };
});

describe("PgStore", () => {
  it("keeps leases and versions correct between two stores (two processes' pools) on one database", async () => {
    const url = await cluster.createDatabase();
    const [a, b] = await Promise.all([PgStore.open(url), PgStore.open(url)]);
    const lease = await a.acquireLease("alice", { who: "ann", operation: "op_1" }, 60_000);
    const err = await b.acquireLease("alice", { who: "bo", operation: "op_2" }, 60_000).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(LockedError);
    expect((err as LockedError).holder).toMatchObject({ who: "ann", leaseId: lease.leaseId });
    // Forty concurrent read-modify-write increments through both stores: none lost.
    const i = await a.createInstance(instance("bob", { meta: { n: 0 } }));
    const bump = async (s: PgStore): Promise<void> => {
      for (;;) {
        const cur = (await s.getInstanceById(i.id))!;
        try {
          await s.updateInstance(i.id, { meta: { n: Number(cur.meta.n) + 1 } }, { expectedVersion: cur.version });
          return;
        } catch (e) {
          if (!(e instanceof ConflictError)) throw e;
        }
      }
    };
    await Promise.all(Array.from({ length: 40 }, (_, k) => bump(k % 2 ? a : b)));
    const done = (await b.getInstanceById(i.id))!;
    expect(done.meta.n).toBe(40);
    expect(done.version).toBe(41);
    await Promise.all([a.close(), b.close()]);
  });

  it("migrates once when several servers start together, and refuses a newer schema untouched", async () => {
    const url = await cluster.createDatabase();
    const stores = await Promise.all(Array.from({ length: 4 }, () => PgStore.open(url)));
    await stores[0]!.appendAudit({ who: "ann", action: "x", target: "y" });
    await Promise.all(stores.map((s) => s.close()));
    const client = new pg.Client({ connectionString: url });
    await client.connect();
    expect((await client.query("SELECT version FROM automna_schema")).rows).toEqual([{ version: PG_SCHEMA_VERSION }]);
    try {
      await expect(client.query("DELETE FROM audit")).rejects.toThrow(/append-only/);
      await expect(client.query("UPDATE audit SET who = 'mallory'")).rejects.toThrow(/append-only/);
      await client.query("UPDATE automna_schema SET version = version + 1");
      await expect(PgStore.open(url)).rejects.toBeInstanceOf(PgSchemaTooNewError);
      expect((await client.query("SELECT version FROM automna_schema")).rows).toEqual([{ version: PG_SCHEMA_VERSION + 1 }]);
    } finally {
      await client.end();
    }
  });

  it("upgrades a database from schema 2 forward, keeping its rows", async () => {
    const url = await cluster.createDatabase();
    const client = new pg.Client({ connectionString: url });
    await client.connect();
    try {
      await client.query(PG_MIGRATIONS[0]!);
      await client.query(PG_MIGRATIONS[1]!);
      await client.query("CREATE TABLE automna_schema (version integer NOT NULL); INSERT INTO automna_schema VALUES (2)");
      await client.query(`INSERT INTO audit (at, who, action, target, request_id, details) VALUES (now(), 'ann', 'x', 'y', NULL, '{}')`);
      const store = await PgStore.open(url);
      expect((await store.listAudit()).map((r) => r.who)).toEqual(["ann"]);
      expect(await store.getIdempotency("ann", "k", "2000-01-01T00:00:00.000Z")).toBeUndefined();
      await store.close();
      expect((await client.query("SELECT version FROM automna_schema")).rows).toEqual([{ version: PG_SCHEMA_VERSION }]);
      expect((await client.query("SELECT to_regclass('idempotency')::text AS t")).rows).toEqual([{ t: "idempotency" }]);
    } finally {
      await client.end();
    }
  });

  it("never shows the database password in its location", async () => {
    const store = await PgStore.open(cluster.url("postgres").replace("automna@", "automna:hunter2secret@"));
    expect(store.location).not.toContain("hunter2secret");
    expect(store.location).toContain("***");
    await store.close();
  });
});
