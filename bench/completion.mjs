// What a TAB costs: `automna __complete` (the call every completion script makes) completing user
// ids from a state database of 10,000 users, a command's flags, and a provider's regions, against
// bare `node -e ''` and `automna --version`. Goal (#17 item 4): user ids under 150 ms.
// Usage: npm run build && node bench/completion.mjs [runs] [users]
// Runs are interleaved so machine noise hits every case alike.
import { spawnSync } from "node:child_process";
import { mkdirSync, mkdtempSync, rmSync } from "node:fs";
import { cpus, loadavg, tmpdir } from "node:os";
import { join } from "node:path";
import { SqliteStore } from "../dist/src/state/sqlite-store.js";
import { median } from "./lib/run.mjs";

const runs = Number(process.argv[2] ?? 20);
const users = Number(process.argv[3] ?? 10_000);
const bin = new URL("../dist/bin/automna.js", import.meta.url).pathname;
const home = mkdtempSync(join(tmpdir(), "automna-bench-complete-"));
const env = { HOME: home, XDG_CONFIG_HOME: join(home, "config"), XDG_DATA_HOME: join(home, "data"), PATH: process.env.PATH };
mkdirSync(join(home, "data", "automna"), { recursive: true });
const store = await SqliteStore.open(join(home, "data", "automna", "state.db"));
// Through the store, as provision writes them (one row per user; ids u00000..).
for (let i = 0; i < users; i++) {
  await store.createInstance({ user: `u${String(i).padStart(5, "0")}`, role: "live", provider: "hetzner", region: "fsn1", size: "cx22", image: "a:1", resources: {}, addresses: {}, status: "running", opId: null, meta: {} });
}
await store.close();

const cases = {
  "node -e ''": [process.execPath, ["-e", ""]],
  "automna --version": [process.execPath, [bin, "--version"]],
  [`status <TAB> (${users} user ids)`]: [process.execPath, [bin, "__complete", "status", ""]],
  "status u01<TAB> (100 of them)": [process.execPath, [bin, "__complete", "status", "u01"]],
  "lock list --<TAB> (flags)": [process.execPath, [bin, "__complete", "lock", "list", "--"]],
  "provision --provider hetzner --region <TAB>": [process.execPath, [bin, "__complete", "provision", "--provider", "hetzner", "--region", ""]],
};
const times = Object.fromEntries(Object.keys(cases).map((k) => [k, []]));
for (const [cmd, args] of Object.values(cases)) spawnSync(cmd, args, { env });
const load = loadavg()[0];
for (let i = 0; i < runs; i++) {
  for (const [name, [cmd, args]] of Object.entries(cases)) {
    const t0 = process.hrtime.bigint();
    const r = spawnSync(cmd, args, { env, stdio: ["ignore", "pipe", "inherit"] });
    const ms = Number(process.hrtime.bigint() - t0) / 1e6;
    if (r.status !== 0) throw new Error(`${name} exited ${r.status}`);
    if (name.includes("user ids") && r.stdout.toString().split("\n").filter(Boolean).length !== Math.min(users, 5000)) throw new Error(`${name}: wrong number of candidates`);
    times[name].push(ms);
  }
}
rmSync(home, { recursive: true, force: true });
const base = median(times["node -e ''"]);
console.log(`machine: ${cpus().length} x ${cpus()[0]?.model}, node ${process.version}, ${runs} runs each, interleaved, load average ${load.toFixed(1)} -> ${loadavg()[0].toFixed(1)}`);
console.log("| case | median | ratio to node -e '' |\n|---|---|---|");
for (const [name, xs] of Object.entries(times)) console.log(`| \`${name}\` | ${median(xs).toFixed(1)} ms | ${(median(xs) / base).toFixed(2)}x |`);
