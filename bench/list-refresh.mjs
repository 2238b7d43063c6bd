// `automna list --refresh` over N sandbox resources across the three providers (a third each),
// created through the sandbox's own API so the bench measures the refresh, not provisioning.
// Usage: npm run build && node bench/list-refresh.mjs [resources] [runs]
// Needs src/sandbox (startSandbox) on this branch.
import { spawnSync } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { cpus, tmpdir } from "node:os";
import { join } from "node:path";

const total = Number(process.argv[2] ?? 10_000);
const runs = Number(process.argv[3] ?? 3);
const { startSandbox } = await import("../dist/src/sandbox/index.js");
const dir = mkdtempSync(join(tmpdir(), "automna-bench-refresh-"));
const sandbox = await startSandbox({ dir: join(dir, "world"), rateLimits: false, actionDelayMs: 0 });
const env = {
  ...process.env, HOME: dir, XDG_CONFIG_HOME: join(dir, "config"), XDG_DATA_HOME: join(dir, "data"), ...sandbox.env(),
  AUTOMNA_POLL_MS: "10", AUTOMNA_IMAGE: "ghcr.io/automna/agent:1", NO_COLOR: "1",
};
const bin = new URL("../dist/bin/automna.js", import.meta.url).pathname;
const placements = [["hetzner", "fsn1", "cx22"], ["fly", "ams", "shared-cpu-1x-256mb"], ["digitalocean", "fra1", "s-1vcpu-1gb"]];
for (const [provider, region, size] of placements) {
  const n = Math.ceil(total / 3);
  const input = Array.from({ length: n }, (_, i) => `${provider.slice(0, 2)}-${i}`).join("\n");
  const r = spawnSync(process.execPath, [bin, "provision", "--from-file", "-", "--provider", provider, "--region", region, "--size", size, "--concurrency", "64", "--no-wait", "--quiet", "--json"], { env, input, encoding: "utf8", maxBuffer: 256 << 20 });
  if (r.status !== 0) throw new Error(`seeding ${provider} exited ${r.status}: ${r.stderr.slice(0, 2000)}`);
}
const times = [];
for (let i = 0; i < runs; i++) {
  const r = spawnSync("/usr/bin/time", ["-f", "%e %M", process.execPath, bin, "list", "--refresh", "-o", "json"], { env, encoding: "utf8", maxBuffer: 256 << 20 });
  if (r.status !== 0) throw new Error(`list --refresh exited ${r.status}: ${r.stderr.slice(-2000)}`);
  const [wall, kb] = r.stderr.trim().split("\n").at(-1).split(" ").map(Number);
  times.push({ wall, rss: kb / 1024, rows: JSON.parse(r.stdout).length });
}
await sandbox.close();
rmSync(dir, { recursive: true, force: true });
const sorted = [...times].sort((a, b) => a.wall - b.wall);
const med = sorted[Math.floor(sorted.length / 2)];
console.log(`machine: ${cpus().length} x ${cpus()[0]?.model}, node ${process.version}, ${runs} runs`);
console.log(`list --refresh over ${med.rows} instances on 3 providers: median wall ${med.wall.toFixed(2)} s, peak RSS ${med.rss.toFixed(0)} MB`);
