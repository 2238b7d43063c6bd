// Migration throughput and downtime: N users with M MB of /data each, migrated in the sandbox
// (real ssh, object-store and DNS stand-ins) between Hetzner and DigitalOcean, interleaved with a
// raw `tar -cf - . | tar -xf -` of the same bytes on the same machine.
// Reports: wall time per run, data throughput (source bytes / wall) against raw tar|tar, and
// per-user downtime (freeze to target healthy) p50/p95. Medians over the runs.
// [latency-ms]: simulated one-way network latency on every SSH connection (default 0: loopback).
// AUTOMNA_SSH_OPTIONS=ControlMaster=no in the environment turns off SSH connection sharing.
// Usage: npm run build && node bench/migrate.mjs [users=100] [mb=10] [runs=3] [concurrency=16] [latency-ms=0]
import { spawn } from "node:child_process";
import { randomBytes } from "node:crypto";
import { mkdirSync, mkdtempSync, readdirSync, rmSync, statSync, writeFileSync } from "node:fs";
import { cpus, loadavg } from "node:os";
import { join } from "node:path";
import { performance } from "node:perf_hooks";
import { migrationWorld } from "./lib/migration-world.mjs";

const users = Number(process.argv[2] ?? 100);
const mb = Number(process.argv[3] ?? 10);
const runs = Number(process.argv[4] ?? 3);
const concurrency = Number(process.argv[5] ?? 16);
const latencyMs = Number(process.argv[6] ?? 0);
const { dir, sandbox, home } = await migrationWorld({
  name: "migrate", sshPort: 22222, sshLatencyMs: latencyMs,
  agent: { logIntervalMs: 5000, dataWriteIntervalMs: 5000, seedBytes: 64 * 1024, maxDataBytes: 1024 * 1024 },
});
const env = home();
const bin = new URL("../dist/bin/automna.js", import.meta.url).pathname;
// Asynchronous on purpose: the sandbox serves from this very process.
const run = (cmd, args, input, options = {}) => new Promise((resolve, reject) => {
  const child = spawn(cmd, args, { env, ...options });
  let out = "";
  let err = "";
  child.stdout.on("data", (d) => (out += d));
  child.stderr.on("data", (d) => (err += d));
  child.on("error", reject);
  child.on("close", (code) => (code === 0 ? resolve(out) : reject(new Error(`${[cmd, ...args].join(" ").slice(0, 200)} exited ${code}: ${err.slice(-2000)}`))));
  child.stdin.on("error", () => undefined);
  child.stdin.end(input ?? "");
});
const cli = (args, input) => run(process.execPath, [bin, ...args], input);
const names = Array.from({ length: users }, (_, i) => `mig-${String(i).padStart(3, "0")}`);
await cli(["provision", "--from-file", "-", "--provider", "hetzner", "--region", "fsn1", "--size", "cx22", "--concurrency", "32", "--json", "--quiet"], names.join("\n"));
await sandbox.settled();

const live = async () => new Map(JSON.parse(await cli(["list", "-o", "json"])).map((r) => [r.user, r]));
const dataDir = (row) => join(sandbox.dir ?? join(dir, "world"), "hosts", `${row.provider}-${row.resources.server ?? row.resources.droplet}`, "data");
const bytesUnder = (d) => readdirSync(d, { withFileTypes: true }).reduce((n, e) => n + (e.isDirectory() ? bytesUnder(join(d, e.name)) : e.isFile() ? statSync(join(d, e.name)).size : 0), 0);
// 10 MB of incompressible data per user, in a few files, written straight to each host's disk.
for (const row of (await live()).values()) {
  const d = join(dataDir(row), "bench");
  mkdirSync(d, { recursive: true });
  for (let i = 0; i < 5; i++) writeFileSync(join(d, `blob-${i}.bin`), randomBytes(Math.round((mb * 1048576) / 5)));
}

async function rawTar(rows) {
  const out = mkdtempSync(join(dir, "raw-"));
  let bytes = 0;
  const t0 = performance.now();
  for (const row of rows) {
    const src = dataDir(row);
    bytes += bytesUnder(src);
    const dst = join(out, row.user);
    mkdirSync(dst);
    await run("sh", ["-c", 'tar -C "$1" -cf - . | tar -C "$2" -xf -', "sh", src, dst]);
  }
  const seconds = (performance.now() - t0) / 1000;
  rmSync(out, { recursive: true, force: true });
  return { seconds, bytes };
}

function migrate(from, to) {
  return new Promise((resolve, reject) => {
    const t0 = performance.now();
    const child = spawn(process.execPath, [bin, "migrate", "--all", "--from", from, "--to", to, "--concurrency", String(concurrency), "--keep-source", "0s", "--yes", "-o", "ndjson"], { env });
    let out = "";
    let err = "";
    child.stdout.on("data", (d) => (out += d));
    child.stderr.on("data", (d) => (err += d));
    child.on("close", (code) => {
      const seconds = (performance.now() - t0) / 1000;
      if (code !== 0) return reject(new Error(`migrate exited ${code}: ${err.slice(-2000)}${out.split("\n").filter((l) => l.includes("error")).slice(-3).join("\n")}`));
      const results = out.split("\n").filter(Boolean).map((l) => JSON.parse(l)).filter((e) => e.type === "result");
      resolve({ seconds, results });
    });
  });
}

const pct = (xs, p) => {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.ceil((p / 100) * s.length) - 1)];
};
const median = (xs) => pct(xs, 50);
const rows = [];
let from = "hetzner";
for (let run = 1; run <= runs; run++) {
  const to = from === "hetzner" ? "digitalocean" : "hetzner";
  const sources = [...(await live()).values()];
  const raw = await rawTar(sources);
  const m = await migrate(from, to);
  if (m.results.length !== users || m.results.some((r) => r.result !== "migrated")) throw new Error(`run ${run}: not every user migrated`);
  await cli(["gc", "--yes", "--quiet"]);
  const downtimes = m.results.map((r) => r.downtimeMs);
  const moved = m.results.reduce((n, r) => n + r.bytes, 0);
  rows.push({
    run, from, to, wall: m.seconds, rawSeconds: raw.seconds, bytes: raw.bytes, moved,
    throughput: raw.bytes / m.seconds / 1048576, rawThroughput: raw.bytes / raw.seconds / 1048576,
    p50: pct(downtimes, 50) / 1000, p95: pct(downtimes, 95) / 1000,
  });
  const r = rows.at(-1);
  console.log(`run ${run} ${from}->${to}: wall ${r.wall.toFixed(1)} s, ${(r.bytes / 1048576).toFixed(0)} MiB of /data (${(r.moved / 1048576).toFixed(0)} MiB archived incl. final deltas): ${r.throughput.toFixed(1)} MiB/s; raw tar|tar ${r.rawSeconds.toFixed(1)} s = ${r.rawThroughput.toFixed(1)} MiB/s; downtime p50 ${r.p50.toFixed(2)} s, p95 ${r.p95.toFixed(2)} s, ${((users / r.wall) * 60).toFixed(1)} users/min (load ${loadavg()[0].toFixed(1)})`);
  from = to;
}
await sandbox.close();
rmSync(dir, { recursive: true, force: true });
console.log(`machine: ${cpus().length} x ${cpus()[0]?.model}, node ${process.version}`);
console.log(`${users} users x ${mb} MB, concurrency ${concurrency}, ${runs} runs (medians):`);
console.log(`  wall ${median(rows.map((r) => r.wall)).toFixed(1)} s; throughput ${median(rows.map((r) => r.throughput)).toFixed(1)} MiB/s vs raw tar|tar ${median(rows.map((r) => r.rawThroughput)).toFixed(1)} MiB/s (ratio ${median(rows.map((r) => r.throughput / r.rawThroughput)).toFixed(3)})`);
console.log(`  downtime p50 ${median(rows.map((r) => r.p50)).toFixed(2)} s, p95 ${median(rows.map((r) => r.p95)).toFixed(2)} s; ${median(rows.map((r) => (users / r.wall) * 60)).toFixed(1)} users per minute`);
