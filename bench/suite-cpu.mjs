// Where the test suite's CPU goes (#12): runs vitest once under Linux process accounting and
// charges every process that ran to the test file whose worker started it (its process tree), or
// to "outside any file" (vitest itself, daemons that left their tree, other work on the machine).
// The suite is CPU-bound on this 2-core machine, so CPU, not wall time, says what to cut.
// Needs root and Debian's `acct` (accton, dump-acct). Usage: npm run build && node bench/suite-cpu.mjs [vitest args...]
import { spawn, spawnSync } from "node:child_process";
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { cpus, loadavg } from "node:os";
import { join } from "node:path";
import { performance } from "node:perf_hooks";
import { clearInterval, setInterval } from "node:timers";

const have = (cmd) => spawnSync("sh", ["-c", `command -v ${cmd}`]).status === 0;
if (process.getuid?.() !== 0 || !have("accton") || !have("dump-acct")) {
  console.error("bench/suite-cpu.mjs needs root and Debian's acct package (apt-get install acct)");
  process.exit(2);
}
// Inside node_modules, so the config and setup file resolve vitest as the project's own files do.
const dir = mkdtempSync(new URL("../node_modules/.suite-cpu-", import.meta.url).pathname);
const pacct = join(dir, "pacct");
const pids = join(dir, "pids");
// Each worker notes its pid and file; the config is vitest's own with this setup file added.
writeFileSync(join(dir, "setup.ts"), `import { appendFileSync } from "node:fs";
import { beforeAll, expect } from "vitest";
beforeAll(() => appendFileSync(${JSON.stringify(pids)}, \`\${process.pid} \${expect.getState().testPath}\\n\`));
`);
writeFileSync(join(dir, "vitest.config.ts"), `import base from ${JSON.stringify(new URL("../vitest.config.ts", import.meta.url).pathname)};
import { mergeConfig } from "vitest/config";
export default mergeConfig(base, { test: { setupFiles: [${JSON.stringify(join(dir, "setup.ts"))}] } });
`);
writeFileSync(pacct, "");
const load = [loadavg()[0]];
spawnSync("accton", [pacct]);
const started = performance.now();
// The sandbox's process starter (src/sandbox/host/spawner-helper) outlives its worker by a moment,
// so at its exit its parent is no longer the worker; its socket's name, in its command line, says
// which worker started it. Read while the suite runs.
const starterOf = new Map();
const watch = setInterval(() => {
  for (const pid of readdirSync("/proc").filter((p) => /^\d+$/.test(p))) {
    if (starterOf.has(Number(pid))) continue;
    try {
      const m = /automna-spawner-(\d+)-/.exec(readFileSync(`/proc/${pid}/cmdline`, "latin1"));
      if (m) starterOf.set(Number(pid), Number(m[1]));
    } catch {
      // gone
    }
  }
}, 500);
let run;
try {
  run = await new Promise((resolve) => {
    const child = spawn("npx", ["vitest", "run", "--root", process.cwd(), "-c", join(dir, "vitest.config.ts"), ...process.argv.slice(2)], { stdio: ["ignore", "ignore", "inherit"] });
    child.on("close", (status) => resolve({ status }));
  });
} finally {
  clearInterval(watch);
  spawnSync("accton", ["off"]);
}
const wall = (performance.now() - started) / 1000;
load.push(loadavg()[0]);

// dump-acct: command | version | user | sys | elapsed | uid | gid | mem | io | pid | ppid | ...; times in ticks of 1/100 s.
const records = spawnSync("dump-acct", [pacct], { encoding: "utf8", maxBuffer: 1 << 28 }).stdout.trim().split("\n").map((line) => {
  const f = line.split("|").map((x) => x.trim());
  return { comm: f[0], user: Number(f[2]) / 100, sys: Number(f[3]) / 100, pid: Number(f[9]), ppid: Number(f[10]) };
});
const fileOf = new Map();
for (const line of readFileSync(pids, "utf8").trim().split("\n")) {
  const [pid, path] = [line.slice(0, line.indexOf(" ")), line.slice(line.indexOf(" ") + 1)];
  const files = fileOf.get(Number(pid)) ?? [];
  files.push(path.slice(path.indexOf("/test/") + 1));
  fileOf.set(Number(pid), files);
}
const parent = new Map(records.map((r) => [r.pid, starterOf.get(r.pid) ?? r.ppid]));
const workerOf = (pid) => {
  for (let hops = 0; pid && hops < 64; hops++, pid = parent.get(pid)) if (fileOf.has(pid)) return pid;
  return undefined;
};
// Node names its process after a thread at exit (MainThread, V8Worker...): all of them are node.
const NODE = new Set(["node", "MainThread", "V8Worker", "SignalInspector", "DelayedTaskSche", "libuv-worker"]);
const perWorker = new Map();
const perKind = new Map();
let outside = 0;
for (const r of records) {
  const cpu = r.user + r.sys;
  const worker = workerOf(r.pid);
  if (worker === undefined) {
    outside += cpu;
    continue;
  }
  const kind = r.pid === worker ? "test worker (vitest, in-process sandbox and CLI runs)" : NODE.has(r.comm) ? "automna binary runs (and other node children)" : r.comm;
  const k = perKind.get(kind) ?? { n: 0, user: 0, sys: 0 };
  perKind.set(kind, { n: k.n + 1, user: k.user + r.user, sys: k.sys + r.sys });
  const w = perWorker.get(worker) ?? { cpu: 0, self: 0, runs: 0 };
  perWorker.set(worker, { cpu: w.cpu + cpu, self: w.self + (r.pid === worker ? cpu : 0), runs: w.runs + (r.pid !== worker && NODE.has(r.comm) ? 1 : 0) });
}
rmSync(dir, { recursive: true, force: true });

const s = (x) => x.toFixed(1);
const total = records.reduce((a, r) => a + r.user + r.sys, 0);
console.log(`machine: ${cpus().length} x ${cpus()[0]?.model.split(" ")[0] ?? "cpu"}, node ${process.version}, load ${load.map(s).join(" -> ")}; vitest exit ${run.status}`);
console.log(`wall ${s(wall)} s; CPU ${s(total)} s (${s(total / wall)} cores busy on average), ${s(outside)} s outside any file's tree\n`);
console.log("| processes | count | user s | sys s |\n|---|---|---|---|");
for (const [kind, k] of [...perKind].sort((a, b) => b[1].user + b[1].sys - (a[1].user + a[1].sys)).slice(0, 12)) console.log(`| ${kind} | ${k.n} | ${s(k.user)} | ${s(k.sys)} |`);
console.log("\n| test file(s) of one worker | CPU s | of it the worker | binary runs |\n|---|---|---|---|");
for (const [worker, w] of [...perWorker].sort((a, b) => b[1].cpu - a[1].cpu).slice(0, 20)) {
  const files = fileOf.get(worker);
  console.log(`| ${files.slice(0, 3).join(", ")}${files.length > 3 ? ` and ${files.length - 3} more` : ""} | ${s(w.cpu)} | ${s(w.self)} | ${w.runs} |`);
}
