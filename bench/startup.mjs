// Cold start of `automna --version`, `automna --help` and every `automna <command> --help`
// against bare `node -e ''`. Goal: --version and --help at most 1.15x, each command's help at
// most 1.3x.
// Usage: npm run build && node bench/startup.mjs [runs] [baseline-bin]
// Runs are interleaved (node, version, help, each command, node, ...) so machine noise hits all alike.
// With a second argument, the path of another build's dist/bin/automna.js (e.g. main's), its
// --version, --help and `config --help` run interleaved too, as the before of a before/after.
import { spawnSync } from "node:child_process";
import { cpus, loadavg } from "node:os";
import { COMMANDS } from "../dist/src/commands/index.js";
import { median } from "./lib/run.mjs";

const runs = Number(process.argv[2] ?? 30);
const bin = new URL("../dist/bin/automna.js", import.meta.url).pathname;
const baseline = process.argv[3];
const cases = {
  "node -e ''": [process.execPath, ["-e", ""]],
  "automna --version": [process.execPath, [bin, "--version"]],
  "automna --help": [process.execPath, [bin, "--help"]],
  // Pre-rendered at build time (dist/help/), like the root page.
  ...Object.fromEntries(COMMANDS.map((c) => [`automna ${c.name} --help`, [process.execPath, [bin, c.name, "--help"]]])),
  // Not pre-rendered (a global flag first): commander, the manifest and config's module, live.
  "automna --no-color config --help": [process.execPath, [bin, "--no-color", "config", "--help"]],
  ...(baseline ? {
    "before: automna --version": [process.execPath, [baseline, "--version"]],
    "before: automna --help": [process.execPath, [baseline, "--help"]],
    "before: automna config --help": [process.execPath, [baseline, "config", "--help"]],
  } : {}),
};
const goal = (name) => (name.startsWith("node") || name.startsWith("before") || name.includes("--no-color") ? "" : name === "automna --version" || name === "automna --help" ? 1.15 : 1.3);
const times = Object.fromEntries(Object.keys(cases).map((k) => [k, []]));
// Warm-up: fills the OS file cache and the compile cache, as any second run of a CLI would.
for (const [cmd, args] of Object.values(cases)) spawnSync(cmd, args);
const load = loadavg()[0];
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
console.log(`machine: ${cpus().length} x ${cpus()[0]?.model}, node ${process.version}, ${runs} runs each, interleaved, load average ${load.toFixed(1)} -> ${loadavg()[0].toFixed(1)}`);
console.log("| command | median | ratio | goal |\n|---|---|---|---|");
for (const [name, xs] of Object.entries(times)) {
  const m = median(xs);
  const g = goal(name);
  const ratio = m / base;
  console.log(`| \`${name}\` | ${m.toFixed(1)} ms | ${ratio.toFixed(2)}x | ${g ? `${g}x ${ratio <= g ? "met" : "MISSED"}` : "-"} |`);
}
