// The embedded store's own cost, this build against another (e.g. main's): list 10,000 instances,
// 2,000 reads by user, and 1,000 fenced writes (lease, create, update with If-Match, release: the
// path every command takes). Each round runs each build in a fresh child process, interleaved,
// timing inside the child, so the CLI's start-up is not in the figures and neither build runs in
// a process warmed by the other. Times are CPU time (user + system) of the child, which a loaded
// machine disturbs far less than wall time.
// Usage: npm run build && node bench/store-rules.mjs [rounds] [baseline-dist-dir]
//   e.g. node bench/store-rules.mjs 9 /path/to/main/dist
import { spawnSync } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { cpus, loadavg, tmpdir } from "node:os";
import { join } from "node:path";
import { median } from "./lib/run.mjs";

const USERS = 10_000;
const WRITES = 1_000;
const READS = 2_000;

async function openStore(dist, db) {
  const { SqliteStore } = await import(join(dist, "src/state/sqlite-store.js"));
  return SqliteStore.open(db);
}

/** In the child: one round on an already seeded database; prints the timings as JSON. */
async function child(dist, db, round) {
  const store = await openStore(dist, db);
  const cpu = () => {
    const u = process.cpuUsage();
    return (u.user + u.system) / 1000;
  };
  const t0 = cpu();
  const all = await store.listInstances();
  if (all.length < USERS) throw new Error(`listed ${all.length}`);
  const t1 = cpu();
  for (let i = 0; i < READS; i++) await store.getInstance(`user-${String(i * 5).padStart(5, "0")}`);
  const t2 = cpu();
  for (let i = 0; i < WRITES; i++) {
    const user = `w${round}-${i}`;
    const lease = await store.acquireLease(user, { who: "bench", operation: "bench" }, 60_000);
    const ref = { user, leaseId: lease.leaseId };
    const row = await store.createInstance({
      user, role: "live", provider: "fly", region: "ams", size: "s", image: "i", resources: {}, addresses: {}, status: "provisioning", opId: null, meta: {},
    }, { lease: ref });
    await store.updateInstance(row.id, { status: "running", resources: { app: user } }, { lease: ref, expectedVersion: 1 });
    await store.releaseLease(ref);
  }
  const t3 = cpu();
  await store.close();
  process.stdout.write(JSON.stringify({ list: t1 - t0, reads: t2 - t1, writes: t3 - t2 }));
}

if (process.argv[2] === "--child") {
  await child(process.argv[3], process.argv[4], process.argv[5]);
} else {
  const rounds = Number(process.argv[2] ?? 7);
  const builds = [["this", new URL("../dist", import.meta.url).pathname]];
  if (process.argv[3]) builds.push(["baseline", process.argv[3]]);
  const dir = mkdtempSync(join(tmpdir(), "automna-bench-store-"));
  const runs = [];
  for (const [name, dist] of builds) {
    const db = join(dir, `${name}.db`);
    const store = await openStore(dist, db);
    for (let i = 0; i < USERS; i++) {
      await store.createInstance({
        user: `user-${String((i * 7919) % USERS).padStart(5, "0")}`, role: "live", provider: "hetzner", region: "fsn1", size: "cx22",
        image: "ghcr.io/automna/agent:1", resources: { server: String(i) }, addresses: { ipv4: "127.77.0.2" }, status: "running", opId: `op_${i}`,
        meta: { monthlyPrice: 3.79, currency: "EUR" },
      });
    }
    await store.close();
    runs.push({ name, dist, db, times: { list: [], reads: [], writes: [] } });
  }
  const script = new URL(import.meta.url).pathname;
  for (let round = 0; round < rounds; round++) {
    // Alternate which build goes first, so neither always follows the same neighbour.
    for (const r of round % 2 ? [...runs].reverse() : runs) {
      const out = spawnSync(process.execPath, [script, "--child", r.dist, r.db, String(round)], { encoding: "utf8" });
      if (out.status !== 0) throw new Error(`${r.name}: ${out.stderr}`);
      const t = JSON.parse(out.stdout);
      for (const k of Object.keys(r.times)) r.times[k].push(t[k]);
    }
  }
  console.log(`machine: ${cpus().length} x ${cpus()[0]?.model.split(" ").slice(0, 2).join(" ")}, node ${process.version}, ${rounds} rounds interleaved, load average after ${loadavg().map((l) => l.toFixed(2)).join(" ")}`);
  const base = runs.find((r) => r.name === "baseline");
  for (const r of runs) {
    const cells = ["list", "reads", "writes"].map((k) => {
      const m = median(r.times[k]);
      return `${k} ${m.toFixed(0)} ms cpu${base && r !== base ? ` (${(m / median(base.times[k])).toFixed(2)}x)` : ""}`;
    });
    console.log(`${r.name.padEnd(9)} ${cells.join("   ")}`);
  }
  rmSync(dir, { recursive: true, force: true });
}
