// Benchmark of `automna state serve`: N concurrent clients (default 50), each its own keep-alive
// connection as a separate CLI would have, run a read/write mix for D seconds (default 30)
// against the server on each backend. Reports requests/s and latency percentiles, and checks
// that no update was lost: every client counts the increments the server acknowledged to it,
// and the sums must equal the counters the server holds.
//
//   npm run build && node bench/state-server.mjs [--seconds 30] [--clients 50] [--runs 3] [--backend sqlite|postgres|both]
//
// Mix per request: 70% reads (instance by user, by id, lease list), 25% counter increments
// (read, then write with If-Match; a 412 re-reads and retries), 5% lease acquire+release on a
// separate set of users (423 when another client holds it is an expected answer).
import { execFileSync, spawn } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { cpus, loadavg, tmpdir, totalmem } from "node:os";
import { join } from "node:path";
import { performance } from "node:perf_hooks";
import { setTimeout as sleep } from "node:timers/promises";
import { parseArgs } from "node:util";
import { request } from "undici";
import { startCluster } from "./pg-cluster.mjs";

const { values: args } = parseArgs({
  options: {
    seconds: { type: "string", default: "30" },
    clients: { type: "string", default: "50" },
    runs: { type: "string", default: "1" },
    backend: { type: "string", default: "both" },
  },
});
const SECONDS = Number(args.seconds);
const CLIENTS = Number(args.clients);
const RUNS = Number(args.runs);
const COUNTERS = 100;
const LEASE_USERS = 20;

const bin = new URL("../dist/bin/automna.js", import.meta.url).pathname;
const { HttpStore } = await import("../dist/src/state/http-store.js");
const { Secret } = await import("../dist/src/lib/redact.js");
const { ConflictError, LockedError } = await import("../dist/src/lib/errors.js");

const home = mkdtempSync(join(tmpdir(), "automna-bench-"));
const env = { ...process.env, HOME: home, XDG_CONFIG_HOME: join(home, "config"), XDG_DATA_HOME: join(home, "data") };

function token(db) {
  return execFileSync(process.execPath, [bin, "state", "token", "create", "bench", "--scope", "write", "--db", db], { env, encoding: "utf8", stdio: ["ignore", "pipe", "ignore"] }).trim();
}

/** The --quiet server prints nothing, so readiness is polled on /healthz instead. */
async function serveQuiet(db) {
  const port = 20000 + Math.floor(Math.random() * 20000);
  const node = process.env.BENCH_SERVER_NODE_ARGS ? process.env.BENCH_SERVER_NODE_ARGS.split(" ") : [];
  const proc = spawn(process.execPath, [...node, bin, "--quiet", "state", "serve", "--db", db, "--listen", `127.0.0.1:${port}`], { env, stdio: ["ignore", "ignore", "ignore"] });
  const url = `http://127.0.0.1:${port}`;
  for (let i = 0; i < 200; i++) {
    try {
      const res = await request(`${url}/healthz`);
      await res.body.dump();
      if (res.statusCode === 200) return { url, proc };
    } catch { /* not yet */ }
    await sleep(25);
  }
  throw new Error("server did not start");
}

function instance(user) {
  return { user, role: "live", provider: "hetzner", region: "fsn1", size: "cx22", image: "agent:1", resources: {}, addresses: {}, status: "running", opId: null, meta: { n: 0 }, };
}

function percentile(sorted, p) {
  return sorted.length ? sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))] : 0;
}

async function runOnce(backend, db) {
  const t = token(db);
  // --quiet: a request log line per request would measure the terminal, not the server.
  const server = await serveQuiet(db);
  const admin = await HttpStore.open(server.url, { token: new Secret(t) });
  const tag = Math.random().toString(36).slice(2, 7);
  const ids = [];
  for (let i = 0; i < COUNTERS; i++) ids.push((await admin.createInstance(instance(`c${tag}-${i}`))).id);
  const users = ids.map((_, i) => `c${tag}-${i}`);
  const deadline = Date.now() + SECONDS * 1000;
  const latencies = [];
  let requests = 0, conflicts = 0, locked = 0, errors = 0;
  const acked = new Map(ids.map((id) => [id, 0]));
  const timed = async (fn) => {
    const t0 = performance.now();
    try {
      return await fn();
    } finally {
      latencies.push(performance.now() - t0);
      requests++;
    }
  };
  const client = async (c) => {
    const store = await HttpStore.open(server.url, { token: new Secret(t), connections: 1, attempts: 1 });
    let rnd = c * 7919 + 1;
    const next = (n) => ((rnd = (rnd * 1103515245 + 12345) % 2147483648), rnd % n);
    while (Date.now() < deadline) {
      const roll = next(100);
      try {
        if (roll < 70) {
          const k = next(3);
          if (k === 0) await timed(() => store.getInstance(users[next(COUNTERS)]));
          else if (k === 1) await timed(() => store.getInstanceById(ids[next(COUNTERS)]));
          else await timed(() => store.listLeases());
        } else if (roll < 95) {
          const id = ids[next(COUNTERS)];
          for (;;) {
            const cur = await timed(() => store.getInstanceById(id));
            try {
              await timed(() => store.updateInstance(id, { meta: { n: cur.meta.n + 1 } }, { expectedVersion: cur.version }));
              acked.set(id, acked.get(id) + 1);
              break;
            } catch (e) {
              if (!(e instanceof ConflictError)) throw e;
              conflicts++;
            }
          }
        } else {
          const user = `l${tag}-${next(LEASE_USERS)}`;
          try {
            const lease = await timed(() => store.acquireLease(user, { who: "bench", operation: `client ${c}` }, 30_000));
            await timed(() => store.releaseLease({ user, leaseId: lease.leaseId }));
          } catch (e) {
            if (!(e instanceof LockedError)) throw e;
            locked++;
          }
        }
      } catch (e) {
        errors++;
        if (errors < 5) console.error(`client ${c}: ${e.message}`);
      }
    }
    await store.close();
  };
  const started = performance.now();
  await Promise.all(Array.from({ length: CLIENTS }, (_, c) => client(c)));
  const elapsed = (performance.now() - started) / 1000;
  let lost = 0, torn = 0;
  for (const id of ids) {
    const i = await admin.getInstanceById(id);
    lost += acked.get(id) - i.meta.n;
    if (i.version - 1 !== i.meta.n) torn++;
  }
  await admin.close();
  server.proc.kill("SIGTERM");
  await new Promise((r) => server.proc.once("exit", r));
  latencies.sort((a, b) => a - b);
  const increments = [...acked.values()].reduce((a, b) => a + b, 0);
  return {
    backend, seconds: Number(elapsed.toFixed(1)), clients: CLIENTS, requests, rps: Math.round(requests / elapsed),
    p50ms: Number(percentile(latencies, 50).toFixed(2)), p99ms: Number(percentile(latencies, 99).toFixed(2)),
    increments, conflicts, locked, errors, lostUpdates: lost, tornRows: torn,
  };
}

const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];

console.log(`machine: ${cpus().length} x ${cpus()[0].model}, ${Math.round(totalmem() / 2 ** 30)} GiB, node ${process.version}`);
console.log(`${CLIENTS} clients, ${SECONDS}s, ${RUNS} run(s) per backend`);
const backends = args.backend === "both" ? ["sqlite", "postgres"] : [args.backend];
const results = Object.fromEntries(backends.map((b) => [b, []]));
let cluster;
try {
  // Interleaved (sqlite, postgres, sqlite, ...): the machine is shared, so both backends see the same noise.
  for (let r = 0; r < RUNS; r++) {
    for (const backend of backends) {
      let db;
      if (backend === "sqlite") db = join(home, `bench-${r}.db`);
      else {
        cluster ??= await startCluster();
        db = cluster.url;
      }
      const result = await runOnce(backend, db);
      console.log(JSON.stringify({ ...result, load1: Number(loadavg()[0].toFixed(1)) }));
      results[backend].push(result);
    }
  }
} finally {
  await cluster?.stop();
  rmSync(home, { recursive: true, force: true });
}
const summary = Object.fromEntries(Object.entries(results).map(([backend, rs]) => [backend, {
  rps: median(rs.map((r) => r.rps)), p50ms: median(rs.map((r) => r.p50ms)), p99ms: median(rs.map((r) => r.p99ms)),
  lostUpdates: rs.reduce((a, r) => a + r.lostUpdates, 0), tornRows: rs.reduce((a, r) => a + r.tornRows, 0), errors: rs.reduce((a, r) => a + r.errors, 0),
}]));
console.log(`median: ${JSON.stringify(summary)}`);
if (summary.sqlite && summary.postgres) console.log(`postgres/sqlite rps ratio: ${(summary.postgres.rps / summary.sqlite.rps).toFixed(2)}`);
if (Object.values(summary).some((s) => s.lostUpdates !== 0 || s.tornRows !== 0)) process.exitCode = 1;
