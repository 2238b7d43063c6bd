// cost-report over 10,000 users with 12 months of usage intervals each. Goal: under 1 s wall.
// Usage: npm run build && node bench/cost-report.mjs [runs]
// Seeds bench/.work/cost-report.db once (kept between runs; delete it to reseed), then times the
// built binary end to end, commands interleaved so machine noise hits them alike.
import { spawnSync } from "node:child_process";
import { existsSync, mkdirSync, rmSync } from "node:fs";
import { cpus, loadavg } from "node:os";
import { performance } from "node:perf_hooks";
import { DatabaseSync } from "node:sqlite";
import { median } from "./lib/run.mjs";

const runs = Number(process.argv[2] ?? 7);
const USERS = 10_000;
const bin = new URL("../dist/bin/automna.js", import.meta.url).pathname;
const work = new URL("./.work/", import.meta.url).pathname;
const db = `${work}cost-report.db`;

/**
 * Every user has one server interval per calendar month from 2025-12 to 2026-11 (a price or size
 * record each month; the last one open), plus an IPv4 (Hetzner) or a 10 GB volume (Fly) for the
 * whole year: 13 intervals a user, 130,000 in all. Half the users on Hetzner (EUR, monthly caps),
 * 30% on Fly, 20% on DigitalOcean; every 50th user was destroyed in September.
 */
async function seed() {
  rmSync(db, { force: true });
  mkdirSync(work, { recursive: true });
  const { SqliteStore } = await import("../dist/src/state/sqlite-store.js");
  await (await SqliteStore.open(db)).close(); // creates the schema
  const sql = new DatabaseSync(db);
  const insert = sql.prepare(
    "INSERT INTO usage (id, user, instance_id, provider, size, region, kind, quantity, hourly_price, monthly_price, currency, start, end) VALUES (?, ?, NULL, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
  );
  const plans = {
    hetzner: { size: "cx22", region: "fsn1", hourly: 0.006, monthly: 3.79, currency: "EUR" },
    fly: { size: "shared-cpu-1x-2gb", region: "ams", hourly: 0.014861, monthly: null, currency: "USD" },
    digitalocean: { size: "s-1vcpu-2gb", region: "fra1", hourly: 0.01786, monthly: 12, currency: "USD" },
  };
  const months = Array.from({ length: 13 }, (_, i) => new Date(Date.UTC(2025, 11 + i, 1)).toISOString());
  let n = 0;
  sql.exec("BEGIN");
  for (let u = 0; u < USERS; u++) {
    const user = `user-${String(u).padStart(5, "0")}`;
    const provider = u % 10 < 5 ? "hetzner" : u % 10 < 8 ? "fly" : "digitalocean";
    const p = plans[provider];
    const destroyed = u % 50 === 0 ? "2026-09-15T08:00:00.000Z" : null;
    for (let m = 0; m < 12; m++) {
      if (destroyed && months[m] >= destroyed) break;
      // Prices drift a little month to month: each interval keeps its own.
      const hourly = p.hourly * (1 + m * 0.005);
      const end = destroyed && months[m + 1] > destroyed ? destroyed : m === 11 ? null : months[m + 1];
      insert.run(`use_${n++}`, user, provider, p.size, p.region, "server", 1, hourly, p.monthly, p.currency, months[m], end);
    }
    if (provider === "hetzner") insert.run(`use_${n++}`, user, provider, p.size, p.region, "ipv4", 1, 0.0008, 0.5, "EUR", months[0], destroyed);
    if (provider === "fly") insert.run(`use_${n++}`, user, provider, p.size, p.region, "volume", 10, 0.15 / 720, null, "USD", months[0], destroyed);
  }
  sql.exec("COMMIT");
  sql.close();
  return n;
}

if (!existsSync(db)) {
  const t0 = performance.now();
  const n = await seed();
  console.log(`seeded ${n} intervals for ${USERS} users in ${((performance.now() - t0) / 1000).toFixed(1)} s`);
}

// Absolute periods, so the work done does not depend on the day the bench runs (only the open
// intervals' end moves with the real clock).
const env = { ...process.env, HOME: work, XDG_CONFIG_HOME: `${work}config`, XDG_DATA_HOME: `${work}data`, NO_COLOR: "1" };
const cases = {
  "cost-report --period 2026-11": ["--period", "2026-11"],
  "cost-report (12 months) --by user -o csv": ["--from", "2025-12-01", "--to", "2026-12-01", "--by", "user", "-o", "csv"],
  "cost-report (12 months) --compare --plan-price 29,79 --json": ["--from", "2025-12-01", "--to", "2026-12-01", "--compare", "--plan-price", "29,79", "--json"],
};
const times = Object.fromEntries(Object.keys(cases).map((k) => [k, { wall: [], cpu: [] }]));
// CPU time (user + sys) comes from /usr/bin/time when present: on a shared machine it moves far
// less with other load than wall time does, so it shows what the command itself costs.
const timeBin = existsSync("/usr/bin/time") ? "/usr/bin/time" : null;
const runOnce = (args) => {
  const argv = [bin, "--state", db, "cost-report", ...args];
  const t0 = process.hrtime.bigint();
  const r = timeBin
    ? spawnSync(timeBin, ["-f", "BENCHTIME %U %S", process.execPath, ...argv], { env, stdio: ["ignore", "ignore", "pipe"], encoding: "utf8" })
    : spawnSync(process.execPath, argv, { env, stdio: ["ignore", "ignore", "pipe"], encoding: "utf8" });
  const wall = Number(process.hrtime.bigint() - t0) / 1e6;
  if (r.status !== 0) throw new Error(`cost-report ${args.join(" ")} exited ${r.status}: ${r.stderr}`);
  const m = /BENCHTIME ([\d.]+) ([\d.]+)/.exec(r.stderr ?? "");
  return { wall, cpu: m ? (Number(m[1]) + Number(m[2])) * 1000 : NaN };
};
for (const args of Object.values(cases)) runOnce(args);
for (let i = 0; i < runs; i++) {
  for (const [name, args] of Object.entries(cases)) {
    const { wall, cpu } = runOnce(args);
    times[name].wall.push(wall);
    times[name].cpu.push(cpu);
  }
}
const load = loadavg()[0].toFixed(1);
console.log(`machine: ${cpus().length} x ${cpus()[0]?.model}, node ${process.version}, ${runs} runs each, interleaved, load average ${load}`);
for (const [name, { wall, cpu }] of Object.entries(times)) {
  const m = median(wall);
  console.log(`${name.padEnd(58)} wall median ${m.toFixed(0)} ms (${(m / 1000).toFixed(2)}x the 1 s goal)   cpu median ${median(cpu).toFixed(0)} ms`);
}
