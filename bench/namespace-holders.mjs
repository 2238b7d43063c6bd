/* global performance, setTimeout */
// What a sandbox with many hosts pays for keeping each host's namespace (#12): a holder process
// per host that has run a command (src/sandbox/host/namespace.ts). N hosts each run one command;
// then the holders' memory (proportional set size, shared pages split among the processes that
// share them), this process's open files, and the machine's CPU per host for the first command
// (which starts the holder) and for a second one (which joins it).
// Needs root (mount namespaces), as the sandbox's isolation does.
// Usage: npm run build && node bench/namespace-holders.mjs [hosts=1000]
import { mkdtempSync, readdirSync, readFileSync, rmSync } from "node:fs";
import { cpus, loadavg, tmpdir } from "node:os";
import { join } from "node:path";
import { catProbe, probeHost, requireNamespaces } from "./lib/host-probe.mjs";
import { machineBusyMs } from "./lib/run.mjs";

const hosts = Number(process.argv[2] ?? 1000);
await requireNamespaces("bench/namespace-holders.mjs");

const dir = mkdtempSync(join(tmpdir(), "automna-bench-holders-"));
const openFiles = () => readdirSync("/proc/self/fd").length;
/** Proportional set size of the processes whose command line starts with `cat` and whose parent chain is ours. */
const holderPssKb = () => {
  let kb = 0;
  let count = 0;
  for (const pid of readdirSync("/proc").filter((p) => /^\d+$/.test(p))) {
    try {
      if (readFileSync(`/proc/${pid}/comm`, "utf8").trim() !== "cat") continue;
      const env = readFileSync(`/proc/${pid}/environ`, "utf8");
      if (!env.includes(`AUTOMNA_HOST_NAME=bench-holder-${process.pid}-`)) continue;
      kb += Number(/^Pss:\s+(\d+)/m.exec(readFileSync(`/proc/${pid}/smaps_rollup`, "utf8"))?.[1] ?? 0);
      count++;
    } catch { /* gone meanwhile */ }
  }
  return { kb, count };
};

const made = Array.from({ length: hosts }, (_, i) => probeHost(join(dir, `h${i}`), `bench-holder-${process.pid}-${i}`));
const run = async (h) => {
  if (!(await catProbe(h))) throw new Error(`${h.name}: cat /data/probe failed`);
};

await run(made[0]); // the process starter up
const files0 = openFiles();
const load = [loadavg()[0]];
let b0 = machineBusyMs();
let t0 = performance.now();
for (const h of made.slice(1)) await run(h);
const first = { cpu: (machineBusyMs() - b0) / (hosts - 1), wall: (performance.now() - t0) / (hosts - 1) };
const files1 = openFiles();
b0 = machineBusyMs();
t0 = performance.now();
for (const h of made.slice(1)) await run(h);
const again = { cpu: (machineBusyMs() - b0) / (hosts - 1), wall: (performance.now() - t0) / (hosts - 1) };
load.push(loadavg()[0]);
// Counted after the second round: a holder's shell reports ready just before it becomes `cat`.
const pss = holderPssKb();
for (const h of made) h.namespace.close();
await new Promise((r) => setTimeout(r, 500));
const left = holderPssKb().count;
rmSync(dir, { recursive: true, force: true });

console.log(`machine: ${cpus().length} x ${cpus()[0]?.model}, node ${process.version}, load ${load.map((l) => l.toFixed(1)).join(" -> ")}; ${hosts} hosts, one command each, then one more each`);
console.log(`holders running: ${pss.count}; their memory (PSS): ${(pss.kb / 1024).toFixed(1)} MB in all, ${(pss.kb / pss.count).toFixed(0)} kB each`);
console.log(`this process's open files: ${files0} -> ${files1} (${((files1 - files0) / (hosts - 1)).toFixed(2)} per host)`);
console.log(`first command on a host (starts its holder): ${first.cpu.toFixed(1)} ms of machine CPU, ${first.wall.toFixed(1)} ms wall`);
console.log(`next command (joins it): ${again.cpu.toFixed(1)} ms of machine CPU, ${again.wall.toFixed(1)} ms wall`);
console.log(`holders left 0.5 s after the hosts closed: ${left}`);
