/* global fetch */
// Recovery from a provider outage: N Hetzner users with M MB of /data each are backed up
// (`backup --all`), Hetzner goes down in the sandbox (API 503, hosts unreachable), and
// `failover --provider hetzner --to fly` brings every user back on Fly from the newest backup.
// Reports per run: the wall time from the outage to every user healthy on Fly, per-user recovery
// time (failover start to healthy) p50/p95, and the recovery point (age of the data restored when
// the outage began). The comparison is `backup --all` of the same fleet in the same run (the
// nightly cost that buys this recovery).
// Usage: npm run build && node bench/failover.mjs [users=100] [mb=10] [runs=1] [concurrency=16]
import { spawn } from "node:child_process";
import { randomBytes } from "node:crypto";
import { mkdirSync, rmSync, writeFileSync } from "node:fs";
import { cpus } from "node:os";
import { join } from "node:path";
import { performance } from "node:perf_hooks";
import { migrationWorld } from "./lib/migration-world.mjs";

const users = Number(process.argv[2] ?? 100);
const mb = Number(process.argv[3] ?? 10);
const runs = Number(process.argv[4] ?? 1);
const concurrency = Number(process.argv[5] ?? 16);

const pct = (xs, p) => {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.ceil((p / 100) * s.length) - 1)];
};

async function oneRun(run) {
  const { dir, sandbox, home } = await migrationWorld({
    name: "failover", sshPort: 22223,
    agent: { logIntervalMs: 5000, dataWriteIntervalMs: 600_000, seedBytes: 64 * 1024, maxDataBytes: 1024 * 1024 },
  });
  const env = home();
  const bin = new URL("../dist/bin/automna.js", import.meta.url).pathname;
  // Asynchronous on purpose: the sandbox serves from this very process.
  const cli = (args, input) => new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [bin, ...args], { env });
    let out = "";
    let err = "";
    child.stdout.on("data", (d) => (out += d));
    child.stderr.on("data", (d) => (err += d));
    child.on("error", reject);
    child.on("close", (code) => (code === 0 ? resolve(out) : reject(new Error(`automna ${args.join(" ").slice(0, 200)} exited ${code}: ${err.slice(-2000)}`))));
    child.stdin.on("error", () => undefined);
    child.stdin.end(input ?? "");
  });
  try {
    const names = Array.from({ length: users }, (_, i) => `fo-${String(i).padStart(3, "0")}`);
    await cli(["provision", "--from-file", "-", "--provider", "hetzner", "--region", "fsn1", "--size", "cx22", "--concurrency", "32", "--json", "--quiet"], names.join("\n"));
    await sandbox.settled();
    for (const row of JSON.parse(await cli(["list", "-o", "json"]))) {
      const d = join(dir, "world", "hosts", `hetzner-${row.resources.server}`, "data", "bench");
      mkdirSync(d, { recursive: true });
      for (let i = 0; i < 5; i++) writeFileSync(join(d, `blob-${i}.bin`), randomBytes(Math.round((mb * 1048576) / 5)));
    }
    const b0 = performance.now();
    await cli(["backup", "--all", "--concurrency", String(concurrency), "--json", "--quiet"]);
    const backupSeconds = (performance.now() - b0) / 1000;

    const outage = Date.now();
    const t0 = performance.now();
    const res = await fetch(`${sandbox.urls.admin}/outage/hetzner`, { method: "POST", body: "{}" });
    if (res.status !== 200) throw new Error(`outage: ${res.status}`);
    const doc = JSON.parse(await cli(["failover", "--provider", "hetzner", "--to", "fly", "--concurrency", String(concurrency), "--yes", "--json", "--quiet"]));
    const wall = (performance.now() - t0) / 1000;
    if (doc.results.length !== users || doc.results.some((r) => r.result !== "failed_over")) throw new Error(`run ${run}: not every user failed over`);
    const recovery = doc.results.map((r) => r.recoveryMs / 1000);
    const points = doc.results.map((r) => (outage - Date.parse(r.backupTime)) / 1000);
    return { wall, backupSeconds, p50: pct(recovery, 50), p95: pct(recovery, 95), rpoMax: Math.max(...points), rpoMin: Math.min(...points) };
  } finally {
    await sandbox.close();
    rmSync(dir, { recursive: true, force: true });
  }
}

const rows = [];
for (let run = 1; run <= runs; run++) {
  const r = await oneRun(run);
  rows.push(r);
  console.log(`run ${run}: outage to all ${users} healthy on Fly ${r.wall.toFixed(1)} s (backup --all of the same fleet ${r.backupSeconds.toFixed(1)} s, ratio ${(r.wall / r.backupSeconds).toFixed(2)}); per user p50 ${r.p50.toFixed(1)} s, p95 ${r.p95.toFixed(1)} s; recovery point: data ${r.rpoMin.toFixed(0)}-${r.rpoMax.toFixed(0)} s old`);
}
const median = (xs) => pct(xs, 50);
console.log(`machine: ${cpus().length} x ${cpus()[0]?.model}, node ${process.version}`);
console.log(`${users} users x ${mb} MB, concurrency ${concurrency}, ${runs} runs (medians): wall ${median(rows.map((r) => r.wall)).toFixed(1)} s, backup ${median(rows.map((r) => r.backupSeconds)).toFixed(1)} s, p50 ${median(rows.map((r) => r.p50)).toFixed(1)} s, p95 ${median(rows.map((r) => r.p95)).toFixed(1)} s`);
