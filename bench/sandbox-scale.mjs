/* global performance, fetch, setTimeout */
// Sandbox at fleet scale: N Hetzner servers (default 10,000), then the latency of the list
// calls automna makes (first and last page, label_selector for one user, get by id), the world
// save, and a restart that reloads the world and brings every host's health endpoint back.
// Run after `npm run build`: node bench/sandbox-scale.mjs [N]
import { mkdtempSync, rmSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { startSandbox } from "../dist/src/sandbox/index.js";

const N = Number(process.argv[2] ?? 10_000);
const dir = mkdtempSync(join(tmpdir(), "automna-bench-sandbox-"));
const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
async function time(fn, runs = 21) {
  const ms = [];
  for (let i = 0; i < runs; i++) {
    const t = performance.now();
    await fn();
    ms.push(performance.now() - t);
  }
  return median(ms).toFixed(1);
}

let sb = await startSandbox({ dir, actionDelayMs: 10, rateLimits: false, simulatedHosts: false });
const headers = { authorization: `Bearer ${sb.token}`, "content-type": "application/json" };
const get = async (path) => {
  const res = await fetch(`${sb.urls.hetzner}${path}`, { headers });
  if (!res.ok) throw new Error(`${path}: ${res.status}`);
  return res.json();
};

let t = performance.now();
let next = 0;
const ids = [];
await Promise.all(Array.from({ length: 16 }, async () => {
  while (next < N) {
    const i = next++;
    const res = await fetch(`${sb.urls.hetzner}/servers`, {
      method: "POST", headers,
      body: JSON.stringify({ name: `user-${i}`, server_type: "cx22", image: "ubuntu-24.04", labels: { "automna.managed": "true", "automna.user": `user-${i}` } }),
    });
    if (res.status !== 201) throw new Error(`create ${i}: ${res.status} ${await res.text()}`);
    ids.push((await res.json()).server.id);
  }
}));
const createSec = (performance.now() - t) / 1000;
console.log(`created ${N} servers in ${createSec.toFixed(1)} s (${(N / createSec).toFixed(0)}/s)`);
await new Promise((r) => setTimeout(r, 500));
await sb.settled();

const last = Math.ceil(N / 50);
console.log(`GET /servers?per_page=50 (page 1)          median ${await time(() => get("/servers?per_page=50"))} ms`);
console.log(`GET /servers?per_page=50&page=${last}        median ${await time(() => get(`/servers?per_page=50&page=${last}`))} ms`);
console.log(`GET /servers?label_selector=automna.user=u  median ${await time(() => get(`/servers?label_selector=${encodeURIComponent(`automna.managed,automna.user=user-${N - 1}`)}`))} ms`);
console.log(`GET /servers/{id}                          median ${await time(() => get(`/servers/${ids[ids.length >> 1]}`))} ms`);

t = performance.now();
await sb.close();
console.log(`close (final save of the world)            ${(performance.now() - t).toFixed(0)} ms, world.json ${(statSync(join(dir, "world.json")).size / 1e6).toFixed(1)} MB`);
t = performance.now();
sb = await startSandbox({ dir, actionDelayMs: 10, rateLimits: false, simulatedHosts: false });
await sb.settled();
console.log(`restart with ${N} running hosts             ${(performance.now() - t).toFixed(0)} ms`);
const res = await fetch(`${sb.urls.hetzner}/servers?per_page=1`, { headers: { authorization: `Bearer ${sb.token}` } });
console.log(`servers after restart                      ${(await res.json()).meta.pagination.total_entries}`);
await sb.close();
rmSync(dir, { recursive: true, force: true });
