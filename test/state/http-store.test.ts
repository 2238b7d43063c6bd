import { afterAll, beforeAll } from "vitest";
import { PgStore } from "../../src/state/pg-store.js";
import { SqliteStore } from "../../src/state/sqlite-store.js";
import { makeHome } from "../helpers/cli.js";
import { startPostgres, type PgCluster } from "../helpers/pg.js";
import { startTestServer } from "../helpers/state-server.js";
import { describeStoreContract } from "./contract.js";

// The same contract as the embedded store, through `automna state serve` over real HTTP on
// loopback: once with the server on SQLite, once on PostgreSQL.
describeStoreContract("http -> sqlite", async (clock) => {
  const h = makeHome();
  const backend = await SqliteStore.open(h.statePath, { now: () => clock.now() });
  const srv = await startTestServer(backend, () => clock.now());
  const store = await srv.client("admin");
  return { store, cleanup: async () => (await srv.close(), await backend.close(), h.cleanup()) };
});

let cluster: PgCluster;
beforeAll(async () => {
  cluster = await startPostgres();
});
afterAll(async () => {
  await cluster?.stop();
});

describeStoreContract("http -> postgres", async (clock) => {
  const backend = await PgStore.open(await cluster.createDatabase(), { now: () => clock.now() });
  const srv = await startTestServer(backend, () => clock.now());
  const store = await srv.client("admin");
  return { store, cleanup: async () => (await srv.close(), await backend.close()) };
});
