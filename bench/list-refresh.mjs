/* global performance */
// `automna list --refresh` over N sandbox resources across the three providers (a third each),
// interleaved with plain `automna list` (state only) on the same state, so the ratio is what
// reading three provider APIs and reconciling costs. Seeding provisions the users through automna
// (state and sandbox agree, so the refresh pairs every row) with the sandbox's limits off; the
// measured runs use a restarted sandbox with the documented limits at real speed (scale 1) and
// the client's budgets unscaled, as against the real APIs.
// Usage: npm run build && node bench/list-refresh.mjs [resources] [runs]
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { automna, machine, median, timed } from "./lib/run.mjs";

const total = Number(process.argv[2] ?? 10_000);
const runs = Number(process.argv[3] ?? 5);
const { startSandbox } = await import("../dist/src/sandbox/index.js");
const dir = mkdtempSync(join(tmpdir(), "automna-bench-refresh-"));
const world = join(dir, "world");
const base = {
  PATH: process.env.PATH, HOME: dir, XDG_CONFIG_HOME: join(dir, "config"), XDG_DATA_HOME: join(dir, "data"),
  AUTOMNA_IMAGE: "ghcr.io/automna/agent:1", NO_COLOR: "1",
};

let sandbox = await startSandbox({ dir: world, rateLimits: false, actionDelayMs: 0, simulatedHosts: false });
const seedEnv = { ...base, ...sandbox.env(), AUTOMNA_POLL_MS: "10", AUTOMNA_RATE_SCALE: "1000" };
const placements = [["hetzner", "fsn1", "cx22"], ["fly", "ams", "shared-cpu-1x-256mb"], ["digitalocean", "fra1", "s-1vcpu-1gb"]];
const t0 = performance.now();
await Promise.all(placements.map(async ([provider, region, size], k) => {
  const n = Math.floor(total / 3) + (k < total % 3 ? 1 : 0);
  const input = Array.from({ length: n }, (_, i) => `${provider.slice(0, 2)}-${String(i).padStart(5, "0")}`).join("\n");
  await automna(seedEnv, ["provision", "--from-file", "-", "--provider", provider, "--region", region, "--size", size, "--concurrency", "32", "--no-wait", "--quiet", "--json"], input);
}));
console.log(`seeded ${total} instances in ${((performance.now() - t0) / 1000).toFixed(0)} s`);
await sandbox.close();

// Same world, documented limits at real speed.
sandbox = await startSandbox({ dir: world, actionDelayMs: 0, simulatedHosts: false });
await sandbox.settled();
const env = { ...base, ...sandbox.env() };
const cases = { "automna list -o json": ["list", "-o", "json"], "automna list --refresh -o json": ["list", "--refresh", "-o", "json"] };
const results = Object.fromEntries(Object.keys(cases).map((k) => [k, []]));
const load = machine();
// One warm-up run of each (page cache, compile cache), then interleaved runs.
for (const args of Object.values(cases)) await timed(env, args);
for (let i = 0; i < runs; i++) {
  for (const [name, args] of Object.entries(cases)) {
    const r = await timed(env, args);
    const rows = JSON.parse(r.stdout).length;
    if (rows !== total) throw new Error(`${name}: ${rows} rows, expected ${total}`);
    if (args.includes("--refresh") && !/: 0 updated, 0 not found/.test(r.stderr)) throw new Error(`refresh found drift: ${r.stderr.slice(-500)}`);
    results[name].push(r);
  }
}
const requests = sandbox.requests();
await sandbox.close();
rmSync(dir, { recursive: true, force: true });

console.log(`machine: ${load} (at start); after: ${machine().split("load average ")[1]}`);
console.log(`${total} instances (a third per provider), ${runs} runs each, interleaved, medians:`);
const floor = median(results["automna list -o json"].map((r) => r.wall));
for (const [name, rs] of Object.entries(results)) {
  const wall = median(rs.map((r) => r.wall));
  console.log(`${name.padEnd(32)} wall ${wall.toFixed(2)} s (${(wall / floor).toFixed(2)}x list)  peak RSS ${median(rs.map((r) => r.rss)).toFixed(0)} MB`);
}
const perRun = {};
for (const r of requests) perRun[r.provider] = (perRun[r.provider] ?? 0) + 1;
console.log(`provider requests per refresh: ${Object.entries(perRun).map(([p, n]) => `${p} ${Math.round(n / (runs + 1))}`).join(", ")}; 429 answers: ${requests.filter((r) => r.status === 429).length}`);
