/* global performance, fetch */
// Koyeb at scale against the sandbox's Koyeb stand-in.
// 1. Bulk provision of N users (default 200) at the rate budget automna keeps for Koyeb (400
//    requests per 60 s per token, assumed from a probe; Koyeb documents none), time-scaled on both
//    sides. The token's budget is first spent from outside automna down to a few requests, so the
//    budget, not the burst, paces the run. Reported: requests sent over what the budget allowed
//    from then on (what was left plus the refill until automna's last request), and 429 answers.
// 2. `automna exec` of `true` across M Koyeb instances (default 100) through the exec WebSocket at
//    the default concurrency (16) against the same M execs one after another (--concurrency 1).
// Usage: npm run build && node bench/koyeb.mjs [users] [scale] [execs] [runs]
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { automna, machine, median } from "./lib/run.mjs";

const users = Number(process.argv[2] ?? 200);
const scale = Number(process.argv[3] ?? 10);
const execs = Number(process.argv[4] ?? 100);
const runs = Number(process.argv[5] ?? 3);
const PER_SECOND = 400 / 60;
const { startSandbox } = await import("../dist/src/sandbox/index.js");

function envFor(dir, sandbox, rateScale) {
  return {
    PATH: process.env.PATH, HOME: dir, XDG_CONFIG_HOME: join(dir, "config"), XDG_DATA_HOME: join(dir, "data"), ...sandbox.env(),
    AUTOMNA_RATE_SCALE: String(rateScale), AUTOMNA_POLL_MS: "100", AUTOMNA_IMAGE: "ghcr.io/automna/agent:1", NO_COLOR: "1",
  };
}

/** Spends the token's budget down to about `leave` requests from outside automna; returns what is left. */
async function spend(sandbox, leave) {
  const url = `${sandbox.urls.koyeb}/v1/catalog/regions`;
  const headers = { authorization: `Bearer ${sandbox.token}` };
  for (;;) {
    const batch = await Promise.all(Array.from({ length: 20 }, async () => {
      const res = await fetch(url, { headers });
      await res.arrayBuffer();
      return Number(res.headers.get("x-ratelimit-remaining"));
    }));
    if (Math.min(...batch) <= leave + 20) return Math.min(...batch);
  }
}

async function bulk() {
  const dir = mkdtempSync(join(tmpdir(), "automna-bench-koyeb-"));
  const sandbox = await startSandbox({ dir: join(dir, "world"), rateLimitScale: scale, actionDelayMs: 200, simulatedHosts: false });
  try {
    const left = await spend(sandbox, 10);
    const spentAt = Date.now();
    const from = sandbox.requests().length;
    const input = Array.from({ length: users }, (_, i) => `bulk-${String(i).padStart(4, "0")}`).join("\n");
    const t0 = performance.now();
    const r = await automna(envFor(dir, sandbox, scale), ["provision", "--from-file", "-", "--provider", "koyeb", "--region", "fra", "--size", "micro", "--concurrency", "32", "--json", "--quiet"], input);
    const wall = (performance.now() - t0) / 1000;
    const summary = JSON.parse(r.stdout).summary;
    if (summary.created !== users) throw new Error(`koyeb: ${JSON.stringify(summary)}`);
    const requests = sandbox.requests().slice(from).filter((q) => q.provider === "koyeb");
    const allowed = PER_SECOND * scale;
    const budget = left + allowed * ((Date.parse(requests.at(-1).at) - spentAt) / 1000);
    const span = (Date.parse(requests.at(-1).at) - Date.parse(requests[0].at)) / 1000;
    return { requests: requests.length, limited: requests.filter((q) => q.status === 429).length, span, wall, ratio: requests.length / budget, allowed };
  } finally {
    await sandbox.close();
    rmSync(dir, { recursive: true, force: true });
  }
}

async function execFleet() {
  const dir = mkdtempSync(join(tmpdir(), "automna-bench-koyeb-exec-"));
  const sandbox = await startSandbox({ dir: join(dir, "world"), rateLimitScale: 1000, actionDelayMs: 50, addressBase: "127.89", sshPort: 22189 });
  const env = envFor(dir, sandbox, 1000);
  const names = Array.from({ length: execs }, (_, i) => `x-${String(i).padStart(3, "0")}`);
  try {
    await automna(env, ["provision", "--from-file", "-", "--provider", "koyeb", "--region", "fra", "--size", "micro", "--concurrency", "32", "--json", "--quiet"], names.join("\n"));
    await sandbox.settled();
    const times = { sequential: [], fleet: [] };
    for (let i = 0; i < runs; i++) {
      for (const [kind, concurrency] of [["sequential", "1"], ["fleet", "16"]]) {
        const t0 = performance.now();
        await automna(env, ["exec", ...names, "--concurrency", concurrency, "--quiet", "--", "true"]);
        times[kind].push((performance.now() - t0) / 1000);
      }
    }
    return times;
  } finally {
    await sandbox.close();
    rmSync(dir, { recursive: true, force: true });
  }
}

console.log(`machine: ${machine()}`);
const results = [];
for (let i = 0; i < runs; i++) results.push(await bulk());
const m = (k) => median(results.map((r) => r[k]));
console.log(`bulk provision of ${users} Koyeb users at ${scale}x: ${m("requests")} requests in ${m("span").toFixed(1)} s (wall ${m("wall").toFixed(1)} s), allowed ${results[0].allowed.toFixed(1)} req/s; sent / allowed ${m("ratio").toFixed(2)} (runs: ${results.map((r) => r.ratio.toFixed(2)).join(", ")}); 429 answers: ${results.map((r) => r.limited).join(", ")}`);
const t = await execFleet();
const seq = median(t.sequential);
const fleet = median(t.fleet);
console.log(`exec of true on ${execs} Koyeb instances, ${runs} runs interleaved: one after another ${seq.toFixed(2)} s (${t.sequential.map((x) => x.toFixed(2)).join(", ")}), concurrency 16 ${fleet.toFixed(2)} s (${t.fleet.map((x) => x.toFixed(2)).join(", ")}): ${(seq / fleet).toFixed(1)}x`);
