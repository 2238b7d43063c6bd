import { execFileSync, spawn, type ChildProcess } from "node:child_process";
import { rmSync } from "node:fs";
import { createServer } from "node:net";
import { join } from "node:path";
import pg from "pg";
import { prepareCluster } from "../../scripts/postgres-server.mjs";

/**
 * A throwaway PostgreSQL cluster for tests: initdb into a temp dir, postgres on a free loopback
 * port with its socket in that dir, stopped and deleted afterwards. The server binaries are the
 * ones `npm ci` installs from the npm registry (or AUTOMNA_PG_BIN; see scripts/postgres-server.mjs),
 * never the machine's; as root the server runs as `nobody`.
 */
export interface PgCluster {
  /** URL of a database in the cluster (default: postgres). */
  url(database?: string): string;
  /**
   * A URL whose tables start empty: a fresh schema of the cluster's database, selected by the
   * connection's search_path (CREATE DATABASE costs a checkpoint, ~0.3 s; a schema ~5 ms).
   */
  createDatabase(): Promise<string>;
  stop(): Promise<void>;
}

async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.once("error", reject);
    srv.listen(0, "127.0.0.1", () => {
      const port = (srv.address() as { port: number }).port;
      srv.close(() => resolve(port));
    });
  });
}

let databases = 0;

export async function startPostgres(): Promise<PgCluster> {
  const { dir, bin, spawnOptions } = await prepareCluster("automna-pg-");
  const data = join(dir, "data");
  execFileSync(join(bin, "initdb"), ["-D", data, "-A", "trust", "-U", "automna", "-E", "UTF8", "--no-sync", "--locale=C"], { ...spawnOptions, stdio: "pipe" });
  const port = await freePort();
  // fsync off: a test cluster is thrown away; durability is tested against the store, not the disk.
  const child: ChildProcess = spawn(join(bin, "postgres"), [
    "-D", data, "-p", String(port), "-c", "listen_addresses=127.0.0.1", "-k", dir, "-c", "fsync=off",
    "-c", "synchronous_commit=off", "-c", "full_page_writes=off", "-c", "max_connections=200",
  ], { ...spawnOptions, stdio: ["ignore", "ignore", "pipe"] });
  let log = "";
  child.stderr!.on("data", (d: Buffer) => (log += d.toString()));
  const url = (database = "postgres"): string => `postgres://automna@127.0.0.1:${port}/${database}`;
  for (let i = 0; ; i++) {
    const client = new pg.Client({ connectionString: url() });
    try {
      await client.connect();
      await client.end();
      break;
    } catch {
      await client.end().catch(() => undefined);
      if (child.exitCode !== null || i > 100) throw new Error(`postgres did not start: ${log}`);
      await new Promise((r) => setTimeout(r, 50));
    }
  }
  return {
    url,
    async createDatabase() {
      const name = `t${process.pid}_${++databases}`;
      const client = new pg.Client({ connectionString: url() });
      await client.connect();
      await client.query(`CREATE SCHEMA ${name}`);
      await client.end();
      return `${url()}?options=${encodeURIComponent(`-c search_path=${name}`)}`;
    },
    async stop() {
      if (child.exitCode === null) {
        const exited = new Promise((r) => child.once("exit", r));
        child.kill("SIGQUIT");
        await exited;
      }
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
