// `automna list` of 10,000 users from the embedded store: wall time and peak RSS of the whole
// process (GNU time), against `node -e ''` as the floor. Goal: < 0.5 s wall, < 150 MB peak RSS.
// Also `automna list` on a copy of the same database with an index on instances(user,
// created_at) added (the ORDER BY of `list`), interleaved, to show what such an index is worth.
// Users are inserted in a scattered order, as a fleet provisioned over months would be.
// With a third argument, the path of another build's dist/bin/automna.js (e.g. main's), its
// `automna list` runs interleaved too, as the before of a before/after.
// Usage: npm run build && node bench/list.mjs [runs] [users] [baseline-bin]
import { spawnSync } from "node:child_process";
import { cpSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { cpus, tmpdir } from "node:os";
import { join } from "node:path";
import { median } from "./lib/run.mjs";

const runs = Number(process.argv[2] ?? 7);
const users = Number(process.argv[3] ?? 10_000);
const bin = new URL("../dist/bin/automna.js", import.meta.url).pathname;
const baseline = process.argv[4];
const { SqliteStore } = await import("../dist/src/state/sqlite-store.js");

const home = mkdtempSync(join(tmpdir(), "automna-bench-list-"));
const env = { ...process.env, HOME: home, XDG_CONFIG_HOME: join(home, "config"), XDG_DATA_HOME: join(home, "data"), NO_COLOR: "1" };
const statePath = join(home, "data", "automna", "state.db");
const store = await SqliteStore.open(statePath);
const providers = [["hetzner", "fsn1", "cx22", 3.79, "EUR"], ["fly", "ams", "shared-cpu-1x-2gb", 10.7, "USD"], ["digitalocean", "fra1", "s-1vcpu-2gb", 12, "USD"]];
for (let i = 0; i < users; i++) {
  const [provider, region, size, monthly, currency] = providers[i % 3];
  // 7919 is prime: i -> i * 7919 mod users visits every user once, out of order.
  const user = `user-${String((i * 7919) % users).padStart(5, "0")}`;
  const ins = await store.createInstance({
    user, role: "live", provider, region, size, image: "ghcr.io/automna/agent:1", resources: { server: String(1000 + i) },
    addresses: { ipv4: `127.77.${(i >> 8) & 255}.${i & 255}` }, status: "running", opId: `op_${i}`, meta: { providerStatus: "running", monthlyPrice: monthly, currency },
  });
  await store.openUsage({ user, instanceId: ins.id, provider, size, region, kind: "server", quantity: 1, hourlyPrice: monthly / 730, monthlyPrice: monthly, currency, start: new Date().toISOString() });
}
await store.close();

// The same rows plus an index that matches list's ORDER BY user, created_at.
const old = mkdtempSync(join(tmpdir(), "automna-bench-list-index-"));
const indexEnv = { ...env, HOME: old, XDG_CONFIG_HOME: join(old, "config"), XDG_DATA_HOME: join(old, "data") };
cpSync(join(home, "data"), join(old, "data"), { recursive: true });
{
  const { DatabaseSync } = await import("node:sqlite");
  const db = new DatabaseSync(join(old, "data", "automna", "state.db"));
  db.exec("CREATE INDEX instances_user_created ON instances(user, created_at);");
  db.close();
}

function measure(args) {
  const indexed = args[0] === "with-index";
  const argv = indexed ? args.slice(1) : args;
  const r = spawnSync("/usr/bin/time", ["-f", "%e %M", process.execPath, ...argv], { env: indexed ? indexEnv : env, encoding: "utf8", maxBuffer: 64 << 20 });
  if (r.status !== 0) throw new Error(`${args.join(" ")} exited ${r.status}: ${r.stderr}`);
  const [wall, kb] = r.stderr.trim().split("\n").at(-1).split(" ").map(Number);
  return { wall: wall * 1000, rssMb: kb / 1024, bytes: r.stdout.length };
}
const cases = {
  "node -e ''": ["-e", ""], "automna list": [bin, "list"], "automna list -o json": [bin, "list", "-o", "json"],
  "automna list (+ index)": ["with-index", bin, "list"],
  ...(baseline ? { "baseline automna list": [baseline, "list"] } : {}),
};
const results = Object.fromEntries(Object.keys(cases).map((k) => [k, []]));
for (const args of Object.values(cases)) measure(args);
for (let i = 0; i < runs; i++) for (const [name, args] of Object.entries(cases)) results[name].push(measure(args));
const base = median(results["node -e ''"].map((r) => r.wall));
const load = () => readFileSync("/proc/loadavg", "utf8").split(" ").slice(0, 3).join(" ");
console.log(`machine: ${cpus().length} x ${cpus()[0]?.model}, node ${process.version}, ${users} users, ${runs} runs each, interleaved, load average after ${load()}`);
for (const [name, rs] of Object.entries(results)) {
  const wall = median(rs.map((r) => r.wall));
  console.log(`${name.padEnd(22)} wall ${wall.toFixed(0)} ms (${(wall / base).toFixed(2)}x node)   peak RSS ${median(rs.map((r) => r.rssMb)).toFixed(1)} MB   stdout ${rs[0].bytes} bytes`);
}
rmSync(home, { recursive: true, force: true });
rmSync(old, { recursive: true, force: true });
