/* global performance, fetch */
// Bulk provision of N users against the sandbox with its rate limits time-scaled (the sandbox
// refills its budgets `scale` times faster and automna's client-side budget is scaled the same,
// AUTOMNA_RATE_SCALE), reported as achieved requests per second over the allowed rate.
// Goal: >= 0.9, with no request refused for rate limiting (no 429 in the sandbox's log).
//
// The budget must bind for the ratio to mean anything: 500 users cost ~1,500 requests, inside
// Hetzner's 3,600-request burst. So the bench first spends the token's budget from outside
// automna (as other jobs on the same project would), leaving a few requests; automna then learns
// what is left from the first answer's RateLimit-Remaining and paces itself to the refill rate.
// The allowed rate is the documented steady rate times the scale: Hetzner 1/s; DigitalOcean
// 250/min (its tighter limit: 500 users stay inside 5,000/h). DigitalOcean runs at a smaller
// scale by default: at 50x its 208 requests/s exceed what 32 concurrent provisions ask for (each
// waits on a 200 ms create action), and the budget would not be what paces the run.
// Usage: npm run build && node bench/provision-bulk.mjs [users] [provider:scale,...] [runs]
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { automna, machine, median } from "./lib/run.mjs";

const users = Number(process.argv[2] ?? 500);
const scales = Object.fromEntries((process.argv[3] ?? "hetzner:50,digitalocean:10").split(",").map((x) => [x.split(":")[0], Number(x.split(":")[1] ?? 50)]));
const providers = Object.keys(scales);
const runs = Number(process.argv[4] ?? 1);
const PLACEMENT = {
  hetzner: { region: "fsn1", size: "cx22", perSecond: 1, drainPath: "/locations?per_page=1" },
  digitalocean: { region: "fra1", size: "s-1vcpu-2gb", perSecond: 250 / 60, drainPath: "/v2/regions?per_page=1" },
};
const { startSandbox } = await import("../dist/src/sandbox/index.js");

/** Spends the token's budget down to about `leave` requests, from outside automna; returns what is left. */
async function spend(sandbox, provider, leave) {
  const url = `${sandbox.urls[provider]}${PLACEMENT[provider].drainPath}`;
  const headers = { authorization: `Bearer ${sandbox.token}` };
  for (;;) {
    const batch = await Promise.all(Array.from({ length: 20 }, async () => {
      const res = await fetch(url, { headers });
      await res.arrayBuffer();
      return Number(res.headers.get("ratelimit-remaining"));
    }));
    if (Math.min(...batch) <= leave + 20) return Math.min(...batch);
  }
}

async function once(provider) {
  const { region, size, perSecond } = PLACEMENT[provider];
  const scale = scales[provider];
  const dir = mkdtempSync(join(tmpdir(), "automna-bench-bulk-"));
  const sandbox = await startSandbox({ dir: join(dir, "world"), rateLimitScale: scale, actionDelayMs: 200, simulatedHosts: false });
  const env = {
    PATH: process.env.PATH, HOME: dir, XDG_CONFIG_HOME: join(dir, "config"), XDG_DATA_HOME: join(dir, "data"), ...sandbox.env(),
    AUTOMNA_RATE_SCALE: String(scale), AUTOMNA_POLL_MS: "100", AUTOMNA_IMAGE: "ghcr.io/automna/agent:1", NO_COLOR: "1",
  };
  const left = await spend(sandbox, provider, 10);
  const spentAt = Date.now();
  const from = sandbox.requests().length;
  const input = Array.from({ length: users }, (_, i) => `bulk-${String(i).padStart(4, "0")}`).join("\n");
  const t0 = performance.now();
  const r = await automna(env, ["provision", "--from-file", "-", "--provider", provider, "--region", region, "--size", size, "--concurrency", "32", "--json", "--quiet"], input);
  const wall = (performance.now() - t0) / 1000;
  const requests = sandbox.requests().slice(from).filter((q) => q.provider === provider);
  await sandbox.close();
  rmSync(dir, { recursive: true, force: true });
  const summary = JSON.parse(r.stdout).summary;
  if (summary.created !== users) throw new Error(`${provider}: ${JSON.stringify(summary)}`);
  const span = (Date.parse(requests.at(-1).at) - Date.parse(requests[0].at)) / 1000;
  const allowed = perSecond * scale;
  // What the budget allowed from the moment it was spent down: what was left then, plus the
  // refill until automna's last request.
  const budget = left + allowed * ((Date.parse(requests.at(-1).at) - spentAt) / 1000);
  return { scale, requests: requests.length, limited: requests.filter((q) => q.status === 429).length, span, wall, achieved: requests.length / span, ratio: requests.length / budget, allowed };
}

console.log(`machine: ${machine()}`);
console.log(`${users} users per run, ${runs} run(s) per provider, interleaved; sandbox and client rate scale: ${Object.entries(scales).map(([p, x]) => `${p} ${x}x`).join(", ")}`);
const results = Object.fromEntries(providers.map((p) => [p, []]));
for (let i = 0; i < runs; i++) for (const p of providers) results[p].push(await once(p));
for (const [p, rs] of Object.entries(results)) {
  const m = (k) => median(rs.map((r) => r[k]));
  console.log(`${p}: ${m("requests")} requests in ${m("span").toFixed(1)} s (wall ${m("wall").toFixed(1)} s): achieved ${m("achieved").toFixed(1)} req/s, allowed ${rs[0].allowed.toFixed(1)} req/s (${rs[0].scale}x), requests over what the budget allowed ${m("ratio").toFixed(2)} (runs: ${rs.map((r) => r.ratio.toFixed(2)).join(", ")}); 429 answers: ${rs.map((r) => r.limited).join(", ")}`);
}
console.log(`load average after: ${machine().split("load average ")[1]}`);
