import { execFileSync, spawn, type ChildProcess } from "node:child_process";
import { chmodSync, chownSync, existsSync, mkdtempSync, readdirSync, rmSync } from "node:fs";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import pg from "pg";

/**
 * A throwaway PostgreSQL cluster for tests: initdb into a temp dir, postgres on a free loopback
 * port with its socket in that dir, stopped and deleted afterwards. The server binaries come
 * from Debian's packages (/usr/lib/postgresql/<version>/bin; .ci/services.sh installs them). As
 * root, postgres refuses to run, so it runs as the `postgres` system user the package creates.
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

export function findPgBin(): string {
  const given = process.env.AUTOMNA_PG_BIN;
  if (given && existsSync(join(given, "initdb"))) return given;
  const root = "/usr/lib/postgresql";
  const versions = existsSync(root) ? readdirSync(root).filter((v) => /^\d+$/.test(v)).sort((a, b) => Number(b) - Number(a)) : [];
  for (const v of versions) {
    const bin = join(root, v, "bin");
    if (existsSync(join(bin, "initdb")) && existsSync(join(bin, "postgres"))) return bin;
  }
  throw new Error("PostgreSQL server binaries not found under /usr/lib/postgresql/*/bin: run .ci/services.sh (apt-get install postgresql)");
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

function asPgUser(): { uid: number; gid: number } | undefined {
  if (process.getuid?.() !== 0) return undefined;
  const line = execFileSync("getent", ["passwd", "postgres"], { encoding: "utf8" }).trim();
  const [, , uid, gid] = line.split(":");
  return { uid: Number(uid), gid: Number(gid) };
}

let databases = 0;

export async function startPostgres(): Promise<PgCluster> {
  const bin = findPgBin();
  const user = asPgUser();
  // As root the postgres user must reach the directory: /tmp is world-traversable, $TMPDIR may not be.
  const dir = mkdtempSync(join(user ? "/tmp" : tmpdir(), "automna-pg-"));
  if (user) {
    chmodSync(dir, 0o755);
    chownSync(dir, user.uid, user.gid);
  }
  const ids = user ? { uid: user.uid, gid: user.gid } : {};
  const data = join(dir, "data");
  execFileSync(join(bin, "initdb"), ["-D", data, "-A", "trust", "-U", "automna", "-E", "UTF8", "--no-sync", "--locale=C"], { ...ids, stdio: "pipe" });
  const port = await freePort();
  // fsync off: a test cluster is thrown away; durability is tested against the store, not the disk.
  const child: ChildProcess = spawn(join(bin, "postgres"), [
    "-D", data, "-p", String(port), "-c", "listen_addresses=127.0.0.1", "-k", dir, "-c", "fsync=off",
    "-c", "synchronous_commit=off", "-c", "full_page_writes=off", "-c", "max_connections=200",
  ], { ...ids, stdio: ["ignore", "ignore", "pipe"] });
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
