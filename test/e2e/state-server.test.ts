import { existsSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { DatabaseSync } from "node:sqlite";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { ConflictError, LockedError } from "../../src/lib/errors.js";
import { Secret } from "../../src/lib/redact.js";
import { HttpStore } from "../../src/state/http-store.js";
import { updateInstanceRetrying } from "../../src/state/retry.js";
import { automna, spawnServer, type ServerProcess } from "../helpers/bin.js";
import { budget, QUIET_MS, until } from "../helpers/budget.js";
import { makeHome, type Sandbox } from "../helpers/cli.js";
import { startPostgres, type PgCluster } from "../helpers/pg.js";
import { instance } from "../state/contract.js";

const homes: Sandbox[] = [];
const servers: ServerProcess[] = [];
function home(): Sandbox {
  const h = makeHome();
  homes.push(h);
  return h;
}
afterEach(async () => {
  for (const s of servers.splice(0)) {
    s.proc.kill("SIGKILL");
    await s.proc;
  }
  for (const h of homes.splice(0)) h.cleanup();
});

async function token(h: Sandbox, db: string, operator: string, scope: string): Promise<string> {
  const r = await automna(["state", "token", "create", operator, "--scope", scope, "--db", db], h.env);
  expect(r.exitCode).toBe(0);
  return String(r.stdout).trim();
}

async function serve(db: string, env: Record<string, string>, extra: string[] = []): Promise<ServerProcess> {
  const s = await spawnServer(db, env, extra);
  servers.push(s);
  return s;
}

/** A child command for `lock run` that says it started, then waits for a file. */
function waiter(h: Sandbox, name: string, waitFor: string): string[] {
  const script = join(h.dir, `${name}.mjs`);
  writeFileSync(script, `
    import { existsSync, writeFileSync } from "node:fs";
    writeFileSync(${JSON.stringify(join(h.dir, `${name}.started`))}, "");
    const until = Date.now() + ${budget(3 * QUIET_MS.binaryRun)};
    while (!existsSync(${JSON.stringify(waitFor)})) {
      if (Date.now() > until) { console.error("gave up waiting"); process.exit(9); }
      await new Promise((r) => setTimeout(r, 20));
    }
    console.log("${name} done");
  `);
  return [process.execPath, script];
}

describe("automna CLI processes through one state server", () => {
  it("two processes hold different users at once; a third on a held user exits 4 naming the holder", async () => {
    const h = home();
    const db = join(h.dir, "server.db");
    const ann = await token(h, db, "ann", "write");
    const bob = await token(h, db, "bob", "write");
    const srv = await serve(db, h.env);
    const env = (t: string) => ({ ...h.env, AUTOMNA_STATE_URL: srv.url, AUTOMNA_STATE_TOKEN: t });
    // Each child waits for the other to start: both finish only if both held their user at once.
    // alice lasts until bob has started; bob until alice is done and a third run was refused.
    const a = automna(["lock", "run", "alice", "--reason", "resize alice", "--", ...waiter(h, "alice", join(h.dir, "bob.started"))], env(ann), { quietMs: 2 * QUIET_MS.binaryRun });
    const b = automna(["lock", "run", "bob", "--", ...waiter(h, "bob", join(h.dir, "go"))], env(bob), { quietMs: 3 * QUIET_MS.binaryRun });
    await until(() => existsSync(join(h.dir, "alice.started")) && existsSync(join(h.dir, "bob.started")), 2 * QUIET_MS.binaryRun);
    const ra = await a;
    expect(ra.exitCode).toBe(0);
    expect(ra.stdout).toBe("alice done");
    // bob is still held by the second process: a third process is refused, naming it.
    const refused = await automna(["lock", "run", "bob", "--", "true"], env(ann));
    expect(refused.exitCode).toBe(4);
    expect(refused.stderr).toMatch(/^Error: bob is locked by bob \(lock run: node \S+\/bob\.mjs\) until \d{4}-\S+Z \(pid \d+ on \S+\)\nHint: wait for it to finish \(or for the lease to expire\), or break it with: automna lock break bob --lease lease_\w+$/);
    writeFileSync(join(h.dir, "go"), "");
    expect((await b).exitCode).toBe(0);
    const store = await HttpStore.open(srv.url, { token: new Secret(ann) });
    expect(await store.listLeases()).toEqual([]);
    const acquired = (await store.listAudit({ action: "lease.acquire" })).map((r) => [r.who, r.target]).sort();
    expect(acquired).toEqual([["ann", "alice"], ["bob", "bob"]]);
    await store.close();
  });

  it("keeps acknowledged writes whole across a SIGKILL of the server mid-write", async () => {
    const h = home();
    const db = join(h.dir, "server.db");
    const t = await token(h, db, "wes", "write");
    let srv = await serve(db, h.env);
    const store = await HttpStore.open(srv.url, { token: new Secret(t), attempts: 1, connections: 16 });
    const ids = await Promise.all(Array.from({ length: 10 }, async (_, k) => (await store.createInstance(instance(`u${k}`, { meta: { n: 0 } }))).id));
    const acked = new Map<string, number>();
    let stop = false;
    const worker = async (w: number) => {
      for (let k = w; !stop; k++) {
        const id = ids[k % ids.length]!;
        try {
          const done = await updateInstanceRetrying(store, id, (cur) => ({ meta: { n: Number(cur.meta.n) + 1, by: w } }), { attempts: 50 });
          acked.set(id, Math.max(acked.get(id) ?? 0, done.version));
        } catch (error) {
          if (error instanceof ConflictError) continue;
          return; // the server is gone
        }
      }
    };
    const workers = Array.from({ length: 16 }, (_, w) => worker(w));
    await until(() => [...acked.values()].reduce((a, b) => a + b, 0) > 150, 10_000);
    srv.proc.kill("SIGKILL");
    stop = true;
    await Promise.all(workers);
    await srv.proc;
    await store.close();
    const check = new DatabaseSync(db);
    expect(check.prepare("PRAGMA integrity_check").get()).toEqual({ integrity_check: "ok" });
    check.close();
    srv = await serve(db, h.env);
    const after = await HttpStore.open(srv.url, { token: new Secret(t) });
    for (const id of ids) {
      const i = (await after.getInstanceById(id))!;
      // Counter and version are written in one transaction: equal unless a write was torn.
      expect(i.meta.n).toBe(i.version - 1);
      expect(i.version).toBeGreaterThanOrEqual(acked.get(id) ?? 1);
    }
    await after.close();
  });

  it("stops gracefully on SIGTERM and never logs a token, even with --debug", async () => {
    const h = home();
    const db = join(h.dir, "server.db");
    const good = await token(h, db, "wes", "write");
    const srv = await serve(db, h.env, ["--debug"]);
    const forged = `${good.split(".")[0]}.${"C".repeat(43)}`;
    for (const t of [good, forged, "garbage-token-value-123"]) {
      const store = await HttpStore.open(srv.url, { token: new Secret(t), attempts: 1 });
      await store.createInstance(instance("alice")).catch(() => undefined);
      await store.listLeases().catch(() => undefined);
      await store.close();
    }
    srv.proc.kill("SIGTERM");
    const result = await srv.proc;
    expect(result.exitCode).toBe(0);
    const log = srv.stderr();
    expect(log).toMatch(/ wes POST \/v1\/instances 201 /);
    expect(log).toMatch(/ - GET \/v1\/leases 401 /);
    expect(log).toContain("stopped after 6 requests");
    for (const secret of [good, good.split(".")[1]!, forged.split(".")[1]!, "garbage-token-value-123"]) expect(log).not.toContain(secret);
  });
});

describe("two state server processes on one PostgreSQL database", () => {
  let cluster: PgCluster;
  beforeAll(async () => {
    cluster = await startPostgres();
  });
  afterAll(async () => {
    await cluster?.stop();
  });

  it("refuse through one a lease taken through the other, and lose no update between them", async () => {
    const h = home();
    const url = await cluster.createDatabase();
    const ann = await token(h, url, "ann", "write");
    const bob = await token(h, url, "bob", "write");
    const [s1, s2] = await Promise.all([serve(url, h.env), serve(url, h.env)]);
    const c1 = await HttpStore.open(s1.url, { token: new Secret(ann) });
    const c2 = await HttpStore.open(s2.url, { token: new Secret(bob) });
    const lease = await c1.acquireLease("alice", { who: "ann", operation: "op_migrate" }, 60_000);
    const refused = await c2.acquireLease("alice", { who: "bob", operation: "op_other" }, 60_000).catch((e: unknown) => e);
    expect(refused).toBeInstanceOf(LockedError);
    expect((refused as LockedError).holder).toMatchObject({ who: "ann", operation: "op_migrate", leaseId: lease.leaseId });
    expect((await c2.listLeases()).map((l) => l.leaseId)).toEqual([lease.leaseId]);
    const cli = await automna(["lock", "list", "--columns", "user,who", "--no-header"], { ...h.env, AUTOMNA_STATE_URL: s2.url, AUTOMNA_STATE_TOKEN: bob });
    expect(cli.stdout).toBe("alice   ann");
    const i = await c1.createInstance(instance("carol", { meta: { n: 0 } }));
    await Promise.all(Array.from({ length: 20 }, (_, k) =>
      updateInstanceRetrying(k % 2 ? c1 : c2, i.id, (cur) => ({ meta: { n: Number(cur.meta.n) + 1 } }), { attempts: 200 })));
    expect((await c2.getInstanceById(i.id))!.meta.n).toBe(20);
    await Promise.all([c1.close(), c2.close()]);
  });
});
