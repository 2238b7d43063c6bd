import { execFileSync } from "node:child_process";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { automna, BIN, spawnServer, type ServerProcess } from "../helpers/bin.js";
import { budget, QUIET_MS } from "../helpers/budget.js";
import { runCli } from "../helpers/cli.js";
import { migrateWorld, PLACES, type MigrateWorld } from "./world.js";

/**
 * #11 item 5's scenario: the state server is SIGKILLed for 10 s while three migrations are in
 * flight. The state client waits the outage out (state.retryFor, 60 s by default), the board says
 * it is waiting, the leases are renewed when the server is back, and every migration finishes
 * (or rolls back) with the user's agent serving; nothing is left running or locked.
 */
const OUTAGE_MS = 10_000;
const USERS = ["so-1", "so-2", "so-3"];
const LOST = "so-4";
const LONG = "so-5";

let w: MigrateWorld;
let db: string;
let server: ServerProcess;
let env: Record<string, string>;
beforeAll(async () => {
  w = await migrateWorld({ addressBase: "127.88", seedBytes: 256 * 1024, writeEveryMs: 100 });
  db = join(w.home.dir, "shared-state.db");
  const token = execFileSync(process.execPath, [BIN, "state", "token", "create", "ops", "--scope", "write", "--db", db], { env: w.home.env, stdio: "pipe" }).toString().trim();
  server = await spawnServer(db, w.home.env);
  env = { ...w.env, AUTOMNA_STATE_URL: server.url, AUTOMNA_STATE_TOKEN: token };
  const [region, size] = PLACES.hetzner;
  const made = await runCli(["provision", ...USERS, LOST, LONG, "--provider", "hetzner", "--region", region, "--size", size, "--json"], { env });
  expect(made.code, made.stderr).toBe(0);
  await w.sb.settled();
}, budget(2 * QUIET_MS.test + 2 * QUIET_MS.binaryRun));
afterAll(async () => {
  server?.proc.kill("SIGKILL");
  await server?.proc;
  await w?.cleanup();
});

interface Line { type: string; user?: string; step?: string; phase?: string; kind?: string; result?: string }

describe("the state server lost during migrations", () => {
  it("killed for 10 s during three migrations: all three finish or roll back with the agent serving; the board says it waited; no lease or running operation is left", async () => {
    const port = new URL(server.url).port;
    let killed = false;
    let back: Promise<ServerProcess> | undefined;
    const started = new Set<string>();
    const res = await runCli(["migrate", ...USERS, "--from", "hetzner", "--to", "digitalocean", "--concurrency", "3", "--yes", "-o", "ndjson"], {
      env,
      setup: (ctx) => {
        const write = ctx.io.ndjson.bind(ctx.io);
        ctx.io.ndjson = (value: unknown): void => {
          write(value);
          const e = value as Line;
          if (e.type === "step" && e.step === "warm-archive" && e.phase === "start") started.add(e.user!);
          // All three past provisioning, copying their data: the server dies, and comes back on its port later.
          if (!killed && started.size === USERS.length) {
            killed = true;
            server.proc.kill("SIGKILL");
            back = new Promise((ok) => setTimeout(ok, OUTAGE_MS)).then(() => spawnServer(db, w.home.env, [], `127.0.0.1:${port}`));
          }
        };
      },
    });
    expect(killed).toBe(true);
    server = await back!;
    const lines = res.stdout.trim().split("\n").map((l) => JSON.parse(l) as Line);
    expect(lines.some((l) => l.type === "state" && l.kind === "waiting"), res.stderr).toBe(true);
    expect(lines.some((l) => l.type === "state" && l.kind === "recovered")).toBe(true);
    const results = lines.filter((l) => l.type === "result");
    expect(results.map((r) => r.result).every((r) => r === "migrated" || r === "rolled_back"), res.stdout).toBe(true);
    expect(res.code).toBe(results.every((r) => r.result === "migrated") ? 0 : results.some((r) => r.result === "migrated") ? 3 : 1);

    for (const user of USERS) {
      const status = await runCli(["status", user, "--json"], { env });
      expect(status.json<{ health: { ok: boolean } }>().health.ok, `${user}: ${status.stderr}`).toBe(true);
    }
    const ops = (await runCli(["migrate", "status", "-o", "json"], { env })).json<{ user: string; status: string }[]>();
    expect(ops.filter((o) => USERS.includes(o.user)).map((o) => o.status).every((s) => s === "succeeded" || s === "rolled_back")).toBe(true);
    expect(JSON.parse(String((await automna(["lock", "list", "--json"], env)).stdout))).toEqual([]);
  }, budget(QUIET_MS.test + 3 * QUIET_MS.migration) + OUTAGE_MS);

  it("a state server gone longer than state.retryFor after the freeze: the holder restarts the source, says so and what to run; rollback then ends it", async () => {
    const port = new URL(server.url).port;
    const child = automna(["migrate", LOST, "--from", "hetzner", "--to", "digitalocean", "--yes", "-o", "ndjson"], { ...env, AUTOMNA_STATE_RETRY_FOR: "2s" }, { quietMs: 2 * QUIET_MS.migration });
    let out = "";
    let killed = false;
    child.stdout!.on("data", (chunk: Buffer) => {
      out += chunk.toString();
      if (!killed && /"step":"freeze","phase":"done"/.test(out)) killed = server.proc.kill("SIGKILL");
    });
    const res = await child;
    expect(res.exitCode, String(res.stderr)).toBe(1);
    const op = /"op":"(op_[a-z0-9]+)"/.exec(out)![1]!;
    expect(String(res.stderr)).toMatch(new RegExp(`Error: ${LOST}: migration ${op} interrupted at \\S+ \\(the state store could not be reached\\); ${LOST}'s agent serves on Hetzner Cloud again \\(the source was restarted\\)`));
    expect(String(res.stderr)).toContain(`Hint: next: automna migrate rollback ${op} (the source runs again but state could not record it, so a resume would roll back anyway)`);

    server = await spawnServer(db, w.home.env, [], `127.0.0.1:${port}`);
    expect((await runCli(["status", LOST, "--json"], { env })).json<{ instance: { provider: string }; health: { ok: boolean } }>()).toMatchObject({ instance: { provider: "hetzner" }, health: { ok: true } });
    // Its holder is gone: interrupted, and the rollback takes its lease over at once.
    expect((await runCli(["migrate", "status", "-o", "json"], { env })).json<{ op: string; status: string }[]>().find((o) => o.op === op)!.status).toBe("interrupted");
    const rollback = await runCli(["migrate", "rollback", op, "--yes"], { env });
    expect(rollback.code, rollback.stderr).toBe(0);
    expect((await runCli(["status", LOST, "--json"], { env })).json<{ health: { ok: boolean } }>().health.ok).toBe(true);
  }, budget(QUIET_MS.test + 2 * QUIET_MS.migration));

  it("on a state server a migration's lease outlives the outage its calls wait out (state.retryFor x 1.5), so it is renewed, not lost, when the server is back", async () => {
    const { AUTOMNA_MIGRATE_LEASE_TTL: _ttl, ...defaults } = env;
    const res = await runCli(["migrate", LONG, "--from", "hetzner", "--to", "digitalocean", "--yes", "--json"], { env: { ...defaults, AUTOMNA_STATE_RETRY_FOR: "80s" } });
    expect(res.code, res.stderr).toBe(0);
    const audit = (await runCli(["state", "audit", "--json", "--limit", "10000"], { env })).json<{ action: string; target: string; details: { ttlMs?: number; operation?: string } }[]>();
    const taken = audit.filter((a) => a.action === "lease.acquire" && a.target === LONG && a.details.operation?.startsWith("op_"));
    expect(taken.map((a) => a.details.ttlMs)).toEqual([120_000]);
  }, budget(QUIET_MS.test + QUIET_MS.migration));
});
