// `automna exec` of a short command across N sandbox hosts (default 100) at the default
// concurrency, against the same ssh commands (automna's own argv: known_hosts, key, port) run one
// after another. Goal: exec at least 8x faster. Runs interleaved; medians; load average shown.
// Usage: npm run build && node bench/exec-fleet.mjs [hosts] [runs]
import { BIN, accessWorld, machine, median, run } from "./access-world.mjs";

const n = Number(process.argv[2] ?? 100);
const runs = Number(process.argv[3] ?? 5);
const w = await accessWorld({ agent: { logIntervalMs: 5000, dataWriteIntervalMs: 60_000 } });
const users = Array.from({ length: n }, (_, i) => `bench-${String(i).padStart(3, "0")}`);
const instances = await w.provision(users);
if (instances.length !== n) throw new Error(`expected ${n} instances, got ${instances.length}`);
// Pin every key (exec does this itself; the sequential loop must not pay for it).
const warm = await run(process.execPath, [BIN, "exec", ...users, "--", "true"], { env: w.env });
if (warm.code !== 0) throw new Error(`exec: ${warm.stderr}`);

console.log(`before: ${machine()}`);
const times = { exec: [], sequential: [] };
for (let i = 0; i < runs; i++) {
  const e = await run(process.execPath, [BIN, "exec", ...users, "--", "true"], { env: w.env });
  if (e.code !== 0) throw new Error(`exec exited ${e.code}: ${e.stderr}`);
  times.exec.push(e.ms);
  const t0 = process.hrtime.bigint();
  for (const inst of instances) {
    const r = await run("ssh", w.sshArgv(inst.addresses.ipv4, "true"), { env: w.env });
    if (r.code !== 0) throw new Error(`ssh exited ${r.code}: ${r.stderr}`);
  }
  times.sequential.push(Number(process.hrtime.bigint() - t0) / 1e6);
}
console.log(`after:  ${machine()}`);
const ex = median(times.exec);
const seq = median(times.sequential);
console.log(`${n} hosts, ${runs} runs each, interleaved`);
console.log(`automna exec <${n} users> -- true (concurrency 16)   median ${(ex / 1000).toFixed(2)} s`);
console.log(`ssh host true, one after another                   median ${(seq / 1000).toFixed(2)} s`);
console.log(`speed-up ${(seq / ex).toFixed(1)}x`);
await w.close();
