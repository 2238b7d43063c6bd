// Bulk provision of N users against the sandbox with its rate limits time-scaled, reported as
// achieved requests per second over the allowed rate. Goal: >= 0.9 with no request refused for
// rate limiting. automna's client-side budget is scaled by the same factor (AUTOMNA_RATE_SCALE).
// Usage: npm run build && node bench/provision-bulk.mjs [users] [scale] [provider]
// Needs src/sandbox (startSandbox) on this branch.
import { spawnSync } from "node:child_process";
import { performance } from "node:perf_hooks";
import { mkdtempSync, rmSync } from "node:fs";
import { cpus, tmpdir } from "node:os";
import { join } from "node:path";

const users = Number(process.argv[2] ?? 500);
const scale = Number(process.argv[3] ?? 50);
const providerId = process.argv[4] ?? "hetzner";
const placement = { hetzner: ["fsn1", "cx22", 1], digitalocean: ["fra1", "s-1vcpu-2gb", 250 / 60] }[providerId];
if (!placement) throw new Error("provider: hetzner or digitalocean (Fly's budget is per app, so there is no single rate to compare)");
const [region, size, allowedPerSecond] = placement;
const { startSandbox } = await import("../dist/src/sandbox/index.js");
const dir = mkdtempSync(join(tmpdir(), "automna-bench-bulk-"));
const sandbox = await startSandbox({ dir: join(dir, "world"), rateLimitScale: scale, actionDelayMs: 50 });
const env = {
  ...process.env, HOME: dir, XDG_CONFIG_HOME: join(dir, "config"), XDG_DATA_HOME: join(dir, "data"), ...sandbox.env(),
  AUTOMNA_RATE_SCALE: String(scale), AUTOMNA_POLL_MS: "50", AUTOMNA_IMAGE: "ghcr.io/automna/agent:1", NO_COLOR: "1",
};
const input = Array.from({ length: users }, (_, i) => `bulk-${String(i).padStart(4, "0")}`).join("\n");
const bin = new URL("../dist/bin/automna.js", import.meta.url).pathname;
const t0 = performance.now();
const r = spawnSync(process.execPath, [bin, "provision", "--from-file", "-", "--provider", providerId, "--region", region, "--size", size, "--concurrency", "32", "--json", "--quiet"], { env, input, encoding: "utf8", maxBuffer: 64 << 20 });
const seconds = (performance.now() - t0) / 1000;
const requests = sandbox.requests().filter((q) => q.provider === providerId);
await sandbox.close();
rmSync(dir, { recursive: true, force: true });
if (r.status !== 0) throw new Error(`provision exited ${r.status}: ${r.stderr.slice(0, 2000)}`);
const limited = requests.filter((q) => q.status === 429).length;
const span = (Date.parse(requests.at(-1).at) - Date.parse(requests[0].at)) / 1000 || seconds;
const achieved = requests.length / span;
const allowed = allowedPerSecond * scale;
console.log(`machine: ${cpus().length} x ${cpus()[0]?.model}, node ${process.version}`);
console.log(`${users} users on ${providerId} (sandbox and client rate scale ${scale}x): ${requests.length} requests in ${span.toFixed(1)} s, wall ${seconds.toFixed(1)} s`);
console.log(`achieved ${achieved.toFixed(1)} req/s, allowed ${allowed.toFixed(1)} req/s after the burst: ratio ${(achieved / allowed).toFixed(2)}; 429 answers: ${limited}`);
