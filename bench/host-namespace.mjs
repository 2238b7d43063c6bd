// What a host's command costs the machine under mount-namespace isolation (#12): joining the
// host's kept namespace with nsenter (src/sandbox/host/namespace.ts) against making one per
// command (unshare, a shell, `mount -a`, as every command did before), side by side, interleaved.
// Each command is `cat /data/probe` through the process starter, read to the end. CPU is the whole
// machine's (/proc/stat). Needs root (mount namespaces), as the sandbox's isolation does.
// Usage: npm run build && node bench/host-namespace.mjs [commands per round=200] [rounds=3]
import { mkdtempSync, rmSync } from "node:fs";
import { cpus, loadavg, tmpdir } from "node:os";
import { join } from "node:path";
import { catProbe, probeHost, requireNamespaces } from "./lib/host-probe.mjs";
import { machineBusyMs, median } from "./lib/run.mjs";

const [perRound = 200, rounds = 3] = process.argv.slice(2).map(Number);
await requireNamespaces("bench/host-namespace.mjs");

const dir = mkdtempSync(join(tmpdir(), "automna-bench-ns-"));
const host = probeHost(dir, "bench-host");
const run = (kept) => catProbe(host, kept);
const ways = { "a namespace per command (unshare, sh, mount)": false, "the host's kept namespace (nsenter)": true };

const results = Object.fromEntries(Object.keys(ways).map((k) => [k, []]));
for (const kept of Object.values(ways)) for (let i = 0; i < 20; i++) await run(kept); // warm: starter and holder up
const load = [loadavg()[0]];
for (let round = 0; round < rounds; round++) {
  for (const [name, kept] of Object.entries(ways)) {
    const b0 = machineBusyMs();
    for (let i = 0; i < perRound; i++) if (!(await run(kept))) throw new Error(`${name}: wrong output`);
    results[name].push((machineBusyMs() - b0) / perRound);
  }
}
load.push(loadavg()[0]);
host.namespace.close();
rmSync(dir, { recursive: true, force: true });

console.log(`machine: ${cpus().length} x ${cpus()[0]?.model}, node ${process.version}, load ${load.map((l) => l.toFixed(1)).join(" -> ")}; ${rounds} rounds of ${perRound} commands each way, interleaved`);
console.log("| how | machine CPU per command (median of rounds) | rounds |\n|---|---|---|");
for (const [name, xs] of Object.entries(results)) console.log(`| ${name} | ${median(xs).toFixed(2)} ms | ${xs.map((x) => x.toFixed(2)).join(", ")} |`);
const [per, kept] = Object.values(results).map(median);
console.log(`ratio: ${(kept / per).toFixed(2)}`);
