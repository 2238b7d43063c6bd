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

const COUNT = new URL("./count-lines.mjs", import.meta.url).pathname;
const q = (a) => `'${a.replace(/'/g, "'\\''")}'`;

/**
 * Runs `cmd args | node count-lines.mjs want` and resolves with the time to the first line and
 * the lines per second from the first line to the last: the stream's throughput, without the
 * fixed cost of starting node, ssh and the docker shim. The counter stops the writer by closing
 * the pipe once it has all the lines (a follow would otherwise never end).
 */
function timed(cmd, args, want) {
  return new Promise((resolve, reject) => {
    const t0 = process.hrtime.bigint();
    // Its own process group: a follow that has nothing more to write never notices the counter
    // left (neither would tail -f), so the group is ended once the count is in.
    const child = spawn("sh", ["-c", `${[cmd, ...args].map(q).join(" ")} 2>/dev/null | ${q(process.execPath)} ${q(COUNT)} ${want}`], { env: w.env, stdio: ["ignore", "pipe", "inherit"], detached: true });
    let out = "";
    child.stdout.on("data", (c) => {
      out += c;
      if (out.includes("\n")) process.kill(-child.pid, "SIGINT");
    });
    const guard = setTimeout(() => process.kill(-child.pid, "SIGKILL"), 120_000);
    child.on("error", reject);
    child.on("close", () => {
      clearTimeout(guard);
      const r = JSON.parse(out || "{}");
      if (r.lines !== want) return reject(new Error(`${cmd}: ${r.lines} of ${want} lines`));
      const first = Number(BigInt(r.first) - t0) / 1e6;
      const last = Number(BigInt(r.last) - t0) / 1e6;
      resolve({ first, rate: want / ((last - first) / 1000), total: last });
    });
  });
}

const address = inst.addresses.ipv4;
const cases = {
  [`automna logs big -f (${n} lines)`]: () => timed(process.execPath, [BIN, "logs", "big", "-f"], total),
  "ssh host cat .host/agent.log": () => timed("ssh", w.sshArgv(address, "cat .host/agent.log"), total),
  // What automna reads, without automna: the sandbox's docker shim over the same ssh.
  "ssh host docker logs -t automna-agent": () => timed("ssh", w.sshArgv(address, "docker logs -t automna-agent"), total),
  // The same with --follow (what automna -f runs remotely): the sandbox's follow path, not automna's.
  "ssh host docker logs -t -f automna-agent": () => timed("ssh", w.sshArgv(address, "docker logs -t -f automna-agent"), total),
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
