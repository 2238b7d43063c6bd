/* global Buffer, setTimeout, clearTimeout */
// Throughput of `automna logs <user> -f` (docker logs --follow over SSH, parsed, written to
// stdout) against `ssh host cat` of the same log file, for a log of N lines (default 300,000,
// about 30 MB). Goal: automna at least 0.8 of ssh cat's lines per second. Runs interleaved;
// medians; load average shown. Usage: npm run build && node bench/logs-follow.mjs [lines] [runs]
import { spawn } from "node:child_process";
import { appendFileSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { BIN, accessWorld, machine, median } from "./access-world.mjs";

const n = Number(process.argv[2] ?? 300_000);
const runs = Number(process.argv[3] ?? 5);
const w = await accessWorld({ agent: { logIntervalMs: 3_600_000, dataWriteIntervalMs: 3_600_000, maxLogBytes: 4 << 30 } });
const [inst] = await w.provision(["big"]);
const host = w.sb.simHost(`hetzner:${inst.resources.server}`);
const logFile = join(host.rootDir, ".host", "agent.log");
// The log as the agent writes it (`docker logs -t` format), timestamps strictly increasing after its start line.
const base = BigInt(Date.now()) * 1_000_000n;
let chunk = "";
for (let i = 1; i <= n; i++) {
  const ns = base + BigInt(i) * 1000n;
  const time = `${new Date(Number(ns / 1_000_000n)).toISOString().slice(0, 19)}.${(ns % 1_000_000_000n).toString().padStart(9, "0")}Z`;
  chunk += `${time} level=info component=discord msg="websocket heartbeat ack" latency_ms=${20 + (i % 37)} bench=1 seq=${i}\n`;
  if (chunk.length > 1 << 20) {
    appendFileSync(logFile, chunk);
    chunk = "";
  }
}
appendFileSync(logFile, chunk);
const text = readFileSync(logFile, "utf8");
const total = text.split("\n").length - 1; // with the agent's own start-up line(s)
const mb = Buffer.byteLength(text) / 1e6;

/**
 * Spawns, counts stdout lines until `want`, then stops it (SIGINT, a follow's Ctrl-C). Resolves
 * with the time to the first line and the lines per second from the first line to the last:
 * the stream's throughput, without the fixed cost of starting node, ssh and the docker shim.
 */
function timed(cmd, args, want, stopAfter) {
  return new Promise((resolve, reject) => {
    const t0 = process.hrtime.bigint();
    const child = spawn(cmd, args, { env: w.env, stdio: ["ignore", "pipe", "pipe"] });
    let lines = 0;
    let err = "";
    let first;
    let done;
    const now = () => Number(process.hrtime.bigint() - t0) / 1e6;
    child.stdout.on("data", (c) => {
      first ??= now();
      for (let i = c.indexOf(10); i !== -1; i = c.indexOf(10, i + 1)) lines++;
      if (lines >= want && done === undefined) {
        done = now();
        if (stopAfter) child.kill("SIGINT");
      }
    });
    child.stderr.on("data", (c) => (err += c));
    const guard = setTimeout(() => child.kill("SIGKILL"), 120_000);
    child.on("error", reject);
    child.on("close", () => {
      clearTimeout(guard);
      if (done === undefined) reject(new Error(`${cmd}: ${lines} lines; ${err}`));
      else resolve({ first, rate: want / ((done - first) / 1000), total: done });
    });
  });
}

const address = inst.addresses.ipv4;
const cases = {
  [`automna logs big -f (${n} lines)`]: () => timed(process.execPath, [BIN, "logs", "big", "-f"], total, true),
  "ssh host cat .host/agent.log": () => timed("ssh", w.sshArgv(address, "cat .host/agent.log"), total, false),
  // What automna reads, without automna: the sandbox's docker shim over the same ssh.
  "ssh host docker logs -t automna-agent": () => timed("ssh", w.sshArgv(address, "docker logs -t automna-agent"), total, false),
};
for (const c of Object.values(cases)) await c(); // warm-up (and pins the key)
console.log(`before: ${machine()}`);
const results = Object.fromEntries(Object.keys(cases).map((k) => [k, []]));
for (let i = 0; i < runs; i++) for (const [name, c] of Object.entries(cases)) results[name].push(await c());
console.log(`after:  ${machine()}`);
console.log(`log: ${total} lines, ${mb.toFixed(1)} MB; ${runs} runs each, interleaved`);
const names = Object.keys(cases);
const rate = (name) => median(results[name].map((r) => r.rate));
for (const name of names) {
  const m = (f) => median(results[name].map(f));
  console.log(`${name.padEnd(40)} first line ${m((r) => r.first).toFixed(0)} ms, all lines ${(m((r) => r.total) / 1000).toFixed(2)} s, throughput ${(rate(name) / 1000).toFixed(0)}k lines/s`);
}
console.log(`throughput ratio automna / ssh cat: ${(rate(names[0]) / rate(names[1])).toFixed(2)}`);
await w.close();
