/**
 * The state database's files as an operator meets them: private (0600, -wal and -shm included)
 * wherever they are, a `--state` that is neither a path nor an http(s) URL refused, and a damaged
 * database named with what to do, never rewritten.
 */
import { createHash } from "node:crypto";
import { chmodSync, existsSync, mkdirSync, readdirSync, readFileSync, statSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { execa } from "execa";
import { describe, expect, it } from "vitest";
import { BIN, spawnServer } from "../helpers/bin.js";
import { homesPerTest, runCli, type Sandbox } from "../helpers/cli.js";

const home = homesPerTest();

const mode = (file: string) => (statSync(file).mode & 0o777).toString(8);

/**
 * The modes of a database and its companions while automna has it open (`lock run` holds the
 * store, with its lease written, while the command runs), under the usual umask 022.
 */
async function modesWhileOpen(h: Sandbox, db: string, globals: string[] = []): Promise<string> {
  const r = await execa("sh", ["-c", `umask 022; exec "$0" "$@"`, process.execPath, BIN, ...globals, "lock", "run", "alice", "--", "sh", "-c", 'stat -c %a "$DB" "$DB-wal" "$DB-shm"'], {
    env: { ...h.env, DB: db }, extendEnv: false, reject: false,
  });
  expect(r.exitCode, r.stderr).toBe(0);
  return r.stdout;
}

describe("state database files are the operator's alone", () => {
  it("the embedded database and its -wal and -shm are created 0600", async () => {
    const h = home();
    expect(await modesWhileOpen(h, h.statePath)).toBe("600\n600\n600");
  });

  it("so is a --state path, and a looser existing file is tightened", async () => {
    const h = home();
    const db = join(h.dir, "elsewhere", "fleet.db");
    expect(await modesWhileOpen(h, db, ["--state", db])).toBe("600\n600\n600");
    chmodSync(db, 0o644);
    expect((await runCli(["--state", db, "list"], { env: h.env })).code).toBe(0);
    expect(mode(db)).toBe("600");
  });

  it("so is the database of `state token` and `state serve --db`", async () => {
    const h = home();
    const db = join(h.dir, "server.db");
    expect((await runCli(["state", "token", "create", "ann", "--scope", "admin", "--db", db], { env: h.env })).code).toBe(0);
    const server = await spawnServer(db, h.env);
    try {
      // The server has read its tokens by now (it answers), so the WAL files exist.
      const res = await fetch(`${server.url}/healthz`);
      expect(res.status).toBe(200);
      expect([db, `${db}-wal`, `${db}-shm`].map(mode)).toEqual(["600", "600", "600"]);
    } finally {
      server.proc.kill("SIGTERM");
      await server.proc;
    }
  });
});

describe("--state is a file path or an http(s) URL", () => {
  it("refuses any other URL (exit 2) and creates nothing", async () => {
    const h = home();
    const cwd = join(h.dir, "work");
    mkdirSync(cwd);
    const flag = await execa(process.execPath, [BIN, "--state", "ftp://x", "list"], { cwd, env: h.env, extendEnv: false, reject: false });
    expect(flag.exitCode).toBe(2);
    expect(flag.stderr).toBe('Error: --state takes a file path or an http(s):// URL, got "ftp://x"\nHint: e.g. --state ~/fleet/state.db or --state https://state.example.com (also AUTOMNA_STATE)');
    const env = await execa(process.execPath, [BIN, "list"], { cwd, env: { ...h.env, AUTOMNA_STATE: "s3://bucket/state.db" }, extendEnv: false, reject: false });
    expect(env.exitCode).toBe(2);
    expect(env.stderr).toContain('got "s3://bucket/state.db"');
    expect(readdirSync(cwd)).toEqual([]);
    expect(existsSync(h.statePath)).toBe(false);
  });

  it("refuses a state.url that is not http(s)", async () => {
    const h = home();
    const set = await runCli(["config", "set", "state.url", "ftp://x"], { env: h.env });
    expect([set.code, set.stderr.split("\n")[0]]).toEqual([2, 'Error: value for state.url: "ftp://x" is not an http:// or https:// URL']);
    const r = await runCli(["list"], { env: { ...h.env, AUTOMNA_STATE_URL: "ftp://x" } });
    expect([r.code, r.stderr.split("\n")[0]]).toEqual([2, 'Error: AUTOMNA_STATE_URL: "ftp://x" is not an http:// or https:// URL']);
  });
});

describe("a damaged state database", () => {
  const sha = (file: string) => createHash("sha256").update(readFileSync(file)).digest("hex");

  it.each([
    ["not an SQLite file at all", Buffer.from("this is not a database\n".repeat(200))],
    ["an SQLite header over garbage", Buffer.concat([Buffer.from("SQLite format 3\0"), Buffer.alloc(4080, 0xa5)])],
  ])("%s: named with a recovery hint (exit 2) and left as it is", async (_what, bytes) => {
    const h = home();
    mkdirSync(join(h.dir, "data", "automna"), { recursive: true });
    writeFileSync(h.statePath, bytes);
    const before = sha(h.statePath);
    const r = await runCli(["list"], { env: h.env });
    expect(r.code).toBe(2);
    const [error, hint] = r.stderr.split("\n");
    expect(error).toMatch(new RegExp(`^Error: state database ${h.statePath} is damaged or not an SQLite database \\(.+\\); automna left it as it is$`));
    expect(hint).toBe(`Hint: restore it from a backup, or move it aside to start empty (mv ${h.statePath} ${h.statePath}.damaged); sqlite3 ${h.statePath} .recover may save its rows`);
    expect(r.stderr).not.toContain("this is a bug");
    expect(sha(h.statePath)).toBe(before);
    expect(readdirSync(join(h.dir, "data", "automna"))).toEqual(["state.db"]);
  });
});
