// A throwaway PostgreSQL cluster for the benchmark (like test/helpers/pg.ts, kept separate
// because benches run plain .mjs against dist/). Default durability settings (fsync on,
// synchronous_commit on): a benchmark measures what production would get.
import { execFileSync, spawn } from "node:child_process";
import { rmSync } from "node:fs";
import { createServer } from "node:net";
import { join } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import pg from "pg";
import { prepareCluster } from "../scripts/postgres-server.mjs";

const freePort = () => new Promise((resolve) => {
  const s = createServer().listen(0, "127.0.0.1", () => {
    const { port } = s.address();
    s.close(() => resolve(port));
  });
});

export async function startCluster() {
  const { dir, bin, spawnOptions: ids } = await prepareCluster("automna-bench-pg-");
  execFileSync(join(bin, "initdb"), ["-D", join(dir, "data"), "-A", "trust", "-U", "automna", "-E", "UTF8", "--locale=C"], { ...ids, stdio: "ignore" });
  const port = await freePort();
  const child = spawn(join(bin, "postgres"), ["-D", join(dir, "data"), "-p", String(port), "-c", "listen_addresses=127.0.0.1", "-k", dir, "-c", "max_connections=200"], { ...ids, stdio: "ignore" });
  const url = `postgres://automna@127.0.0.1:${port}/postgres`;
  for (let i = 0; ; i++) {
    const c = new pg.Client({ connectionString: url });
    try {
      await c.connect();
      await c.end();
      break;
    } catch {
      await c.end().catch(() => {});
      if (i > 200) throw new Error("postgres did not start");
      await sleep(50);
    }
  }
  return {
    url,
    async stop() {
      const exited = new Promise((r) => child.once("exit", r));
      child.kill("SIGINT");
      await exited;
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
