// Cold start of `automna --version` and `automna --help` against bare `node -e ''`.
// Usage: npm run build && node bench/startup.mjs [runs]
// Runs are interleaved (node, version, help, node, ...) so machine noise hits all three alike.
import { spawnSync } from "node:child_process";
import { cpus } from "node:os";
import { median } from "./lib/run.mjs";

const runs = Number(process.argv[2] ?? 30);
const bin = new URL("../dist/bin/automna.js", import.meta.url).pathname;
const cases = {
  "node -e ''": [process.execPath, ["-e", ""]],
  "automna --version": [process.execPath, [bin, "--version"]],
  "automna --help": [process.execPath, [bin, "--help"]],
  // Not fast-pathed: builds the whole program (commander, every command) and renders a page.
  "automna config --help": [process.execPath, [bin, "config", "--help"]],
};
const times = Object.fromEntries(Object.keys(cases).map((k) => [k, []]));
// Warm-up: fills the OS file cache and the compile cache, as any second run of a CLI would.
for (const [cmd, args] of Object.values(cases)) spawnSync(cmd, args);
for (let i = 0; i < runs; i++) {
  for (const [name, [cmd, args]] of Object.entries(cases)) {
    const t0 = process.hrtime.bigint();
    const r = spawnSync(cmd, args, { stdio: ["ignore", "ignore", "inherit"] });
    const ms = Number(process.hrtime.bigint() - t0) / 1e6;
    if (r.status !== 0) throw new Error(`${name} exited ${r.status}`);
    times[name].push(ms);
  }
}
const base = median(times["node -e ''"]);
console.log(`machine: ${cpus().length} x ${cpus()[0]?.model}, node ${process.version}, ${runs} runs each, interleaved`);
for (const [name, xs] of Object.entries(times)) {
  const m = median(xs);
  console.log(`${name.padEnd(24)} median ${m.toFixed(1)} ms   ratio ${(m / base).toFixed(2)}x`);
}
