// `automna exec` of a short command across N sandbox hosts (default 100) at the default
// concurrency, against the same ssh commands (automna's own argv: known_hosts, key, port) run one
// after another. Goal: exec at least 8x faster. Runs interleaved; medians; load average shown.
// [latency-ms]: simulated one-way network latency on every SSH connection (the sandbox's
// sshLatencyMs), as between an operator and machines in a real datacenter; default 0 (loopback).
// Usage: npm run build && node bench/exec-fleet.mjs [hosts] [runs] [latency-ms]
import { readFileSync } from "node:fs";
import { cpus } from "node:os";
import { BIN, accessWorld, machine, median, run } from "./access-world.mjs";

/** CPU seconds of this process and its reaped children (ssh clients, the hosts' shells). */
function cpuSeconds() {
  const stat = readFileSync("/proc/self/stat", "utf8");
  const f = stat.slice(stat.lastIndexOf(")") + 2).split(" ").map(Number);
  // utime, stime, cutime, cstime are fields 14-17 (1-based); f starts at field 3.
  return (f[11] + f[12] + f[13] + f[14]) / 100;
}

const n = Number(process.argv[2] ?? 100);
const runs = Number(process.argv[3] ?? 5);
const latencyMs = Number(process.argv[4] ?? 0);
const w = await accessWorld({ sshLatencyMs: latencyMs, agent: { logIntervalMs: 5000, dataWriteIntervalMs: 60_000 } });
const users = Array.from({ length: n }, (_, i) => `bench-${String(i).padStart(3, "0")}`);
const instances = await w.provision(users);
if (instances.length !== n) throw new Error(`expected ${n} instances, got ${instances.length}`);
// Pin every key (exec does this itself; the sequential loop must not pay for it).
const warm = await run(process.execPath, [BIN, "exec", ...users, "--", "true"], { env: w.env });
if (warm.code !== 0) throw new Error(`exec: ${warm.stderr}`);

console.log(`before: ${machine()}`);
const times = { exec: [], sequential: [] };
const cpu = [];
for (let i = 0; i < runs; i++) {
  const e = await run(process.execPath, [BIN, "exec", ...users, "--", "true"], { env: w.env });
  if (e.code !== 0) throw new Error(`exec exited ${e.code}: ${e.stderr}`);
  times.exec.push(e.ms);
  const t0 = process.hrtime.bigint();
  const c0 = cpuSeconds();
  for (const inst of instances) {
    const r = await run("ssh", w.sshArgv(inst.addresses.ipv4, "true"), { env: w.env });
    if (r.code !== 0) throw new Error(`ssh exited ${r.code}: ${r.stderr}`);
  }
  times.sequential.push(Number(process.hrtime.bigint() - t0) / 1e6);
  cpu.push(((cpuSeconds() - c0) * 1000) / n);
}
console.log(`after:  ${machine()}`);
const ex = median(times.exec);
const seq = median(times.sequential);
console.log(`${n} hosts, ${runs} runs each, interleaved; simulated one-way SSH latency ${latencyMs} ms`);
console.log(`automna exec <${n} users> -- true (concurrency 16)   median ${(ex / 1000).toFixed(2)} s`);
console.log(`ssh host true, one after another                   median ${(seq / 1000).toFixed(2)} s`);
console.log(`speed-up ${(seq / ex).toFixed(1)}x`);
// Every connection costs CPU on this one machine: the ssh client, the sandbox's SSH server and the
// host's shell. With all of it on ${cores} cores, no concurrency can beat this bound.
const perConn = median(cpu);
const cores = cpus().length;
console.log(`CPU per connection (client + sandbox server + host shell): ${perConn.toFixed(1)} ms; ceiling on ${cores} cores: ${(seq / ((n * perConn) / cores)).toFixed(1)}x`);
await w.close();
