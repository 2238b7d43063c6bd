// What a sandbox with many hosts pays for keeping each host's namespace (#12): a holder process
// per host that has run a command (src/sandbox/host/namespace.ts). N hosts each run one command;
// then the holders' memory (proportional set size, shared pages split among the processes that
// share them), this process's open files, and the machine's CPU per host for the first command
// (which starts the holder) and for a second one (which joins it).
// Needs root (mount namespaces), as the sandbox's isolation does.
// Usage: npm run build && node bench/namespace-holders.mjs [hosts=1000]
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { cpus, loadavg, tmpdir } from "node:os";
import { join } from "node:path";
import { machineBusyMs } from "./lib/run.mjs";

const hosts = Number(process.argv[2] ?? 1000);
const { detectIsolation, fstabFor } = await import("../dist/src/sandbox/host/isolation.js");
const { HostNamespace } = await import("../dist/src/sandbox/host/namespace.js");
const { spawnCommand } = await import("../dist/src/sandbox/host/process.js");
if ((await detectIsolation()) !== "mount-namespace") {
  console.error("bench/namespace-holders.mjs needs mount namespaces (root and util-linux unshare)");
  process.exit(2);
}

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

const made = [];
for (let i = 0; i < hosts; i++) {
  const root = join(dir, `h${i}`);
  const dataDir = join(root, "data");
  mkdirSync(dataDir, { recursive: true });
  writeFileSync(join(dataDir, "probe"), "ok\n");
  const fstab = join(root, "fstab");
  writeFileSync(fstab, fstabFor(dataDir));
  const name = `bench-holder-${process.pid}-${i}`;
  made.push({ root, fstab, name, namespace: new HostNamespace(fstab, dataDir, name) });
}
const run = async (h) => {
  const child = await spawnCommand({ command: "cat /data/probe", env: { PATH: "/usr/bin:/bin", AUTOMNA_HOST_NAME: h.name }, cwd: h.root, isolation: "mount-namespace", fstab: h.fstab, namespace: h.namespace });
  return new Promise((resolve, reject) => {
    let out = "";
    child.stdout.on("data", (d) => (out += d));
    child.stdin.end();
    child.on("close", (code) => (code === 0 && out === "ok\n" ? resolve() : reject(new Error(`${h.name}: exit ${code}, ${JSON.stringify(out)}`))));
  });
};

await run(made[0]); // the process starter up
const files0 = openFiles();
const load = [loadavg()[0]];
let b0 = machineBusyMs();
let t0 = performance.now();
for (const h of made.slice(1)) await run(h);
const first = { cpu: (machineBusyMs() - b0) / (hosts - 1), wall: (performance.now() - t0) / (hosts - 1) };
const files1 = openFiles();
const pss = holderPssKb();
b0 = machineBusyMs();
t0 = performance.now();
for (const h of made.slice(1)) await run(h);
const again = { cpu: (machineBusyMs() - b0) / (hosts - 1), wall: (performance.now() - t0) / (hosts - 1) };
load.push(loadavg()[0]);
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
