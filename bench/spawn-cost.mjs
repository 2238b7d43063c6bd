// What starting a host's command costs the machine (#12): forked straight from a large process (a
// sandbox or test worker holds ~150-250 MB) against started by the sandbox's process starter
// (src/sandbox/host/spawner.ts), side by side in one process, interleaved. Each command is
// `/bin/sh -c 'cat; echo x >&2'` with a line of input, read to the end as the sandbox does.
// CPU is the whole machine's (/proc/stat: the parent, the helper, the command, the kernel), and the
// parent's own (process.cpuUsage), per command.
// Usage: npm run build && node bench/spawn-cost.mjs [MB held=200] [commands per round=200] [rounds=3]
import { Buffer } from "node:buffer";
import { spawn } from "node:child_process";
import { cpus, loadavg } from "node:os";
import { machineBusyMs, median } from "./lib/run.mjs";

const [mb = 200, perRound = 200, rounds = 3] = process.argv.slice(2).map(Number);
const { spawnThroughHelper } = await import("../dist/src/sandbox/host/spawner.js");

// Memory the way a test worker holds it: buffers and many small objects, written to between commands.
const held = Array.from({ length: mb / 2 }, () => Buffer.alloc(1024 * 1024, 1));
const objects = Array.from({ length: mb * 5000 }, (_, i) => ({ i, s: `x${i}` }));
const touch = (n) => {
  for (let j = 0; j < held.length; j += 8) held[j][n % 4096] = n;
  for (let j = 0; j < objects.length; j += 512) objects[j].i = n;
};

const env = { PATH: "/usr/bin:/bin" };
const script = ["-c", "cat; echo x >&2"];
const read = (child, done) => {
  let out = "";
  child.stdout.on("data", (d) => (out += d));
  child.stderr.on("data", (d) => (out += d));
  child.stdin.end("line\n");
  child.on("close", (code) => done(code === 0 && out === "line\nx\n"));
};
const ways = {
  "forked from this process": () => new Promise((resolve) => read(spawn("/bin/sh", script, { env, cwd: "/", detached: true, stdio: ["pipe", "pipe", "pipe"] }), resolve)),
  "through the process starter": async () => {
    const child = await spawnThroughHelper({ file: "/bin/sh", args: script, cwd: "/", env });
    return new Promise((resolve) => read(child, resolve));
  },
};

const results = Object.fromEntries(Object.keys(ways).map((k) => [k, { machine: [], parent: [] }]));
for (const way of Object.values(ways)) for (let i = 0; i < 20; i++) await way(); // warm: the helper started, code compiled
const load = [loadavg()[0]];
for (let round = 0; round < rounds; round++) {
  for (const [name, way] of Object.entries(ways)) {
    const b0 = machineBusyMs();
    const u0 = process.cpuUsage();
    for (let i = 0; i < perRound; i++) {
      if (!(await way())) throw new Error(`${name}: wrong output`);
      touch(i);
    }
    const u = process.cpuUsage(u0);
    results[name].machine.push((machineBusyMs() - b0) / perRound);
    results[name].parent.push((u.user + u.system) / 1000 / perRound);
  }
}
load.push(loadavg()[0]);
console.log(`machine: ${cpus().length} x ${cpus()[0]?.model.split(" ")[0] ?? "cpu"}, node ${process.version}, load ${load.map((x) => x.toFixed(1)).join(" -> ")}; this process ${(process.memoryUsage().rss / 1e6).toFixed(0)} MB RSS; ${rounds} rounds of ${perRound} commands each way, interleaved, medians:`);
console.log("| started | machine CPU per command | of it this process's |\n|---|---|---|");
for (const [name, r] of Object.entries(results)) console.log(`| ${name} | ${median(r.machine).toFixed(2)} ms | ${median(r.parent).toFixed(2)} ms |`);
const [direct, helper] = Object.values(results).map((r) => median(r.machine));
console.log(`\nratio (starter / forked): ${(helper / direct).toFixed(2)}`);
process.exit(0);
