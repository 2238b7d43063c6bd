// What a host's command costs the machine under mount-namespace isolation (#12): joining the
// host's kept namespace with nsenter (src/sandbox/host/namespace.ts) against making one per
// command (unshare, a shell, `mount -a`, as every command did before), side by side, interleaved.
// Each command is `cat /data/probe` through the process starter, read to the end. CPU is the whole
// machine's (/proc/stat). Needs root (mount namespaces), as the sandbox's isolation does.
// Usage: npm run build && node bench/host-namespace.mjs [commands per round=200] [rounds=3]
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { cpus, loadavg, tmpdir } from "node:os";
import { join } from "node:path";
import { machineBusyMs, median } from "./lib/run.mjs";

const [perRound = 200, rounds = 3] = process.argv.slice(2).map(Number);
const { detectIsolation, fstabFor } = await import("../dist/src/sandbox/host/isolation.js");
const { HostNamespace } = await import("../dist/src/sandbox/host/namespace.js");
const { spawnCommand } = await import("../dist/src/sandbox/host/process.js");
if ((await detectIsolation()) !== "mount-namespace") {
  console.error("bench/host-namespace.mjs needs mount namespaces (root and util-linux unshare)");
  process.exit(2);
}

const dir = mkdtempSync(join(tmpdir(), "automna-bench-ns-"));
const dataDir = join(dir, "data");
mkdirSync(dataDir);
writeFileSync(join(dataDir, "probe"), "ok\n");
const fstab = join(dir, "fstab");
writeFileSync(fstab, fstabFor(dataDir));
const namespace = new HostNamespace(fstab, dataDir, "bench-host");
const env = { PATH: "/usr/bin:/bin", AUTOMNA_HOST_NAME: "bench-host" };

const run = async (kept) => {
  const child = await spawnCommand({ command: "cat /data/probe", env, cwd: dir, isolation: "mount-namespace", fstab, namespace: kept ? namespace : undefined });
  return new Promise((resolve) => {
    let out = "";
    child.stdout.on("data", (d) => (out += d));
    child.stdin.end();
    child.on("close", (code) => resolve(code === 0 && out === "ok\n"));
  });
};
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
namespace.close();
rmSync(dir, { recursive: true, force: true });

console.log(`machine: ${cpus().length} x ${cpus()[0]?.model}, node ${process.version}, load ${load.map((l) => l.toFixed(1)).join(" -> ")}; ${rounds} rounds of ${perRound} commands each way, interleaved`);
console.log("| how | machine CPU per command (median of rounds) | rounds |\n|---|---|---|");
for (const [name, xs] of Object.entries(results)) console.log(`| ${name} | ${median(xs).toFixed(2)} ms | ${xs.map((x) => x.toFixed(2)).join(", ")} |`);
const [per, kept] = Object.values(results).map(median);
console.log(`ratio: ${(kept / per).toFixed(2)}`);
