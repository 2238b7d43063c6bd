// One user's migration data path against its floor (#16), in the sandbox (real OpenSSH to every
// host, the object-store and DNS stand-ins, the built binary), Hetzner <-> DigitalOcean at
// concurrency 1. Cases: /data of 0 B, 200 MB, 1 GB (incompressible, in a few files) and 5,000 files
// of 2 KiB; between the warm copy and the freeze 1 MB changes (3 files for the small-files case,
// nothing for 0 B). Interleaved with each migration, the floor: the same bytes by hand with the
// same tools and the same object store, one after another (tar to a file, sha256sum, curl PUT,
// curl GET, sha256sum, tar -x). Reports per case, medians over the runs: wall, the data path
// (warm-archive start to verify done), downtime (freeze to target healthy), floor, floor/data path,
// and CPU (user+sys, so a loaded machine inflates it less than wall time) in four parts: automna =
// the CLI with the ssh clients it waited for (/usr/bin/time) and the SSH connection masters it left
// running (daemons: read from /proc, then ended); on the hosts = the commands the hosts ran (the
// data path's scripts and the sandbox's `docker` stand-in: this process's children but the CLI);
// sandbox servers = this process (the stand-ins for sshd, the provider APIs, S3, DNS, the agents).
// BENCH_COMPARE=<dir with another build's dist/> migrates a second set of users with that build's
// CLI in the same run, interleaved (same sandbox; its own state home), for a side-by-side ratio;
// BENCH_COMPARE_CASES=0,200 limits it to those cases (a slow build's 5,000-file case takes minutes).
// Usage: npm run build && node bench/datapath.mjs [runs=3] [cases=0,200,1024,files] [latency-ms=0]
import { spawn } from "node:child_process";
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { cpus, loadavg } from "node:os";
import { join } from "node:path";
import { performance } from "node:perf_hooks";
import { migrationWorld } from "./lib/migration-world.mjs";
import { setTimeout as sleep } from "node:timers/promises";
import { Buffer } from "node:buffer";

const runs = Number(process.argv[2] ?? 3);
const cases = (process.argv[3] ?? "0,200,1024,files").split(",");
const latencyMs = Number(process.argv[4] ?? 0);
const MB = 1024 * 1024;
// BENCH_NODE_ARGS="--cpu-prof --cpu-prof-dir=/tmp/prof": extra node flags for the migrating CLI (profiles).
const nodeArgs = (process.env.BENCH_NODE_ARGS ?? "").split(" ").filter(Boolean);
// BENCH_WRAP="strace -f -o /tmp/trace": a command the CLI runs under (counting its processes and calls).
const wrap = (process.env.BENCH_WRAP ?? "").split(" ").filter(Boolean);
const { presignUrl } = await import("../dist/src/lib/s3-presign.js");
const { Secret } = await import("../dist/src/lib/redact.js");
const { dir, sandbox, home: homeEnv } = await migrationWorld({
  name: "datapath", sshPort: 22223, sshLatencyMs: latencyMs, addressBase: "127.61",
  // The simulated agent barely writes: the bench decides what changes.
  agent: { logIntervalMs: 60_000, dataWriteIntervalMs: 600_000, seedBytes: 0, maxDataBytes: 1024 },
});
const builds = [{ name: "this build", prefix: "dp", bin: new URL("../dist/bin/automna.js", import.meta.url).pathname, env: homeEnv("a") }];
const compareCases = (process.env.BENCH_COMPARE_CASES ?? cases.join(",")).split(",");
if (process.env.BENCH_COMPARE) builds.push({ name: `compared (${process.env.BENCH_COMPARE})`, prefix: "dq", bin: join(process.env.BENCH_COMPARE, "dist/bin/automna.js"), env: homeEnv("b") });

// Asynchronous on purpose: the sandbox serves from this very process.
const run = (cmd, args, options = {}) => new Promise((resolve, reject) => {
  const child = spawn(cmd, args, { env: builds[0].env, ...options });
  let out = "";
  let err = "";
  child.stdout.on("data", (d) => {
    out += d;
    options.onStdout?.(out);
  });
  child.stderr.on("data", (d) => (err += d));
  child.on("error", reject);
  child.on("close", (code) => (code === 0 ? resolve(out) : reject(new Error(`${[cmd, ...args].join(" ").slice(0, 200)} exited ${code}: ${err.slice(-2000)}`))));
  child.stdin.end();
});
const cli = (b, args, options) => run(process.execPath, [b.bin, ...args], { env: b.env, ...options });

/** CPU seconds of this process (the sandbox's servers) and of every child it has waited for (the CLI, ssh, the hosts' commands). */
function cpuSeconds() {
  const own = process.cpuUsage();
  const fields = readFileSync("/proc/self/stat", "utf8").split(") ")[1].split(" ");
  // cutime and cstime: fields 16 and 17 of stat, 14 and 15 after "pid (comm) ", in clock ticks.
  const children = (Number(fields[13]) + Number(fields[14])) / 100;
  return { own: (own.user + own.system) / 1e6, children };
}

/**
 * The CPU of the SSH connection masters this bench's CLI left behind (ControlPersist: daemons,
 * counted by nobody's rusage), then ended, so the next migration pays its own handshakes.
 * Found by their process title, which names the socket in this bench's runtime directory.
 */
let reaped = 0;
function reapMasters() {
  let seconds = 0;
  for (const pid of readdirSync("/proc").filter((d) => /^\d+$/.test(d))) {
    try {
      const argv = readFileSync(`/proc/${pid}/cmdline`, "latin1").split("\0");
      // A master renames itself "ssh: <control socket> [mux]".
      if (!argv[0].startsWith(`ssh: ${join(dir, "r")}/`)) continue;
      const fields = readFileSync(`/proc/${pid}/stat`, "utf8").split(") ")[1].split(" ");
      // utime and stime: fields 14 and 15 of stat.
      seconds += (Number(fields[11]) + Number(fields[12])) / 100;
      process.kill(Number(pid));
      reaped++;
    } catch {
      // gone meanwhile
    }
  }
  return seconds;
}

const userOf = (b, c) => `${b.prefix}-${c}`;
const casesOf = (b) => (b === builds[0] ? cases : cases.filter((c) => compareCases.includes(c)));
const live = async (b) => new Map(JSON.parse(await cli(b, ["list", "-o", "json"])).filter((r) => r.status === "running").map((r) => [r.user, r]));
const dataDir = (row) => join(sandbox.dir ?? join(dir, "world"), "hosts", `${row.provider}-${row.resources.server ?? row.resources.droplet}`, "data");
const sh = (script, ...args) => run("sh", ["-c", script, "sh", ...args]);

// The data, written straight to each source host's disk once; it moves with the user.
for (const b of builds) {
  await cli(b, ["provision", ...casesOf(b).map((c) => userOf(b, c)), "--provider", "hetzner", "--region", "fsn1", "--size", "cx22", "--json", "--quiet"]);
  await sandbox.settled();
  for (const c of casesOf(b)) {
    const d = join(dataDir((await live(b)).get(userOf(b, c))), "bench");
    mkdirSync(d, { recursive: true });
    if (c === "files") await sh('cd "$1"; d=0; while [ $d -lt 50 ]; do mkdir -p "c$d"; i=0; while [ $i -lt 100 ]; do head -c 2048 /dev/urandom > "c$d/m$i.json"; i=$((i+1)); done; d=$((d+1)); done', d);
    else if (Number(c) > 0) {
      const files = Number(c) >= 1024 ? 16 : 20;
      await sh('i=0; while [ $i -lt "$2" ]; do openssl rand -out "$1/blob-$i.bin" "$3"; i=$((i+1)); done', d, String(files), String(Math.round((Number(c) * MB) / files)));
    }
  }
}

/** The floor: the user's /data moved by hand through the same object store, one step after another. */
async function floor(user) {
  const src = dataDir((await live(builds[0])).get(user));
  const work = mkdtempSync(join(dir, "floor-"));
  const s3 = sandbox.s3;
  const sign = (method) => presignUrl({ method, endpoint: s3.url, bucket: s3.bucket, key: `floor/${user}.tar`, region: s3.region, accessKeyId: new Secret(s3.accessKeyId), secretAccessKey: new Secret(s3.secretAccessKey), expiresInSeconds: 3600 });
  writeFileSync(join(work, "put"), `url = "${sign("PUT")}"\n`);
  writeFileSync(join(work, "get"), `url = "${sign("GET")}"\n`);
  const t0 = performance.now();
  await sh('set -e; W="$2"; tar -C "$1" -cf "$W/a.tar" .; sha256sum "$W/a.tar" >/dev/null; curl -fsS -K "$W/put" -T "$W/a.tar" -o /dev/null; curl -fsS -K "$W/get" -o "$W/b.tar"; sha256sum "$W/b.tar" >/dev/null; mkdir "$W/x"; tar -C "$W/x" -xf "$W/b.tar"', src, work);
  const seconds = (performance.now() - t0) / 1000;
  rmSync(work, { recursive: true, force: true });
  return seconds;
}

/** What changes between the warm copy and the freeze. */
function change(c, data, n) {
  if (c === "0") return;
  if (c === "files") for (const f of ["c3/m1.json", "c7/m2.json"]) writeFileSync(join(data, "bench", f), `changed ${n}`);
  if (c === "files") writeFileSync(join(data, "bench", "c9", `new-${n}.json`), "{}");
  else writeFileSync(join(data, "bench", `changed-${n}.bin`), Buffer.alloc(MB, n));
}

async function migrate(b, c, n) {
  const user = userOf(b, c);
  const source = (await live(b)).get(user);
  const to = source.provider === "hetzner" ? "digitalocean" : "hetzner";
  const data = dataDir(source);
  // Data is old when an agent is moved: past the quick check's 2 s window for racily clean files.
  await sleep(2500);
  reapMasters();
  let changed = false;
  const cpu0 = cpuSeconds();
  const t0 = performance.now();
  const timed = join(dir, "time.txt");
  const out = await run("/usr/bin/time", ["-f", "%U %S", "-o", timed, ...wrap, process.execPath, ...nodeArgs, b.bin, "migrate", user, "--from", source.provider, "--to", to, "--keep-source", "0s", "--yes", "-o", "ndjson"], {
    env: b.env,
    onStdout: (text) => {
      if (!changed && text.includes('"step":"warm-restore","phase":"done"')) {
        changed = true;
        change(c, data, n);
      }
    },
  });
  const wall = (performance.now() - t0) / 1000;
  const cpu1 = cpuSeconds();
  // The CLI with the ssh clients it waited for; the shared connections' masters (daemons) apart.
  const cliCpu = readFileSync(timed, "utf8").trim().split("\n").at(-1).split(" ").reduce((a, b) => a + Number(b), 0);
  const masters = reapMasters();
  // What ran on the hosts (the data path's scripts, the sandbox's docker stand-in), and the sandbox's own servers.
  const hosts = cpu1.children - cpu0.children - cliCpu;
  const sandboxCpu = cpu1.own - cpu0.own;
  const cpu = cliCpu + masters + hosts + sandboxCpu;
  const events = out.split("\n").filter(Boolean).map((l) => JSON.parse(l));
  const result = events.find((e) => e.type === "result");
  if (result?.result !== "migrated") throw new Error(`${user}: ${JSON.stringify(result)}`);
  const at = (step, phase) => Date.parse(events.find((e) => e.step === step && e.phase === phase).at);
  await cli(b, ["gc", "--yes", "--quiet"]);
  // Where the downtime goes: each step inside it, start to done.
  const inFreeze = ["freeze", "final-restore", "verify", "start-target"].map((s) => `${s} ${((at(s, "done") - at(s, "start")) / 1000).toFixed(2)}`).join(", ");
  return { inFreeze, wall, cpu, cliCpu, masters, automna: cliCpu + masters, hosts, sandboxCpu, downtime: result.downtimeMs / 1000, datapath: (at("verify", "done") - at("warm-archive", "start")) / 1000 };
}

const rows = builds.map(() => Object.fromEntries(cases.map((c) => [c, []])));
const load = [loadavg()[0]];
for (let n = 1; n <= runs; n++) {
  for (const c of cases) {
    const f = await floor(userOf(builds[0], c));
    for (const [i, b] of builds.entries()) {
      if (!casesOf(b).includes(c)) continue;
      const m = await migrate(b, c, n);
      rows[i][c].push({ ...m, floor: f });
      console.log(`run ${n} ${c} ${b.name}: wall ${m.wall.toFixed(2)} s, data path ${m.datapath.toFixed(2)} s, downtime ${m.downtime.toFixed(2)} s, floor ${f.toFixed(2)} s, CPU ${m.cpu.toFixed(2)} s: automna ${m.automna.toFixed(2)} s (CLI ${m.cliCpu.toFixed(2)} s, ${reaped} ssh masters so far ${m.masters.toFixed(2)} s), hosts ${m.hosts.toFixed(2)} s, sandbox ${m.sandboxCpu.toFixed(2)} s; frozen: ${m.inFreeze} s (load ${loadavg()[0].toFixed(1)})`);
      load.push(loadavg()[0]);
    }
  }
}
await sandbox.close();
rmSync(dir, { recursive: true, force: true });

const median = (xs) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
};
console.log(`machine: ${cpus().length} x ${cpus()[0]?.model}, node ${process.version}, load average ${Math.min(...load).toFixed(1)}-${Math.max(...load).toFixed(1)}, SSH latency ${latencyMs} ms, ${runs} runs, medians:`);
console.log("| build | /data | wall | data path | downtime | floor | floor / data path | CPU: automna (CLI + ssh) | on the hosts | sandbox servers | total |");
console.log("|---|---|---|---|---|---|---|---|---|---|---|");
for (const [i, b] of builds.entries()) {
  const zero = rows[i]["0"] ? median(rows[i]["0"].map((r) => r.downtime)) : undefined;
  for (const c of casesOf(b)) {
    const r = rows[i][c];
    const m = (k) => median(r.map((x) => x[k]));
    const name = c === "files" ? "5,000 files of 2 KiB" : c === "0" ? "0 B" : `${c} MB`;
    const vsZero = zero && c !== "0" ? ` (${(m("downtime") / zero).toFixed(2)}x 0 B)` : "";
    console.log(`| ${b.name} | ${name} | ${m("wall").toFixed(2)} s | ${m("datapath").toFixed(2)} s | ${m("downtime").toFixed(2)} s${vsZero} | ${m("floor").toFixed(2)} s | ${median(r.map((x) => x.floor / x.datapath)).toFixed(2)} | ${m("automna").toFixed(2)} s | ${m("hosts").toFixed(2)} s | ${m("sandboxCpu").toFixed(2)} s | ${m("cpu").toFixed(2)} s |`);
  }
}
if (builds.length === 2) {
  for (const c of casesOf(builds[1])) {
    const ratio = (k) => median(rows[0][c].map((x, j) => rows[1][c][j][k] / x[k])).toFixed(2);
    console.log(`${c}: compared / this build, medians of per-run ratios: wall ${ratio("wall")}, data path ${ratio("datapath")}, downtime ${ratio("downtime")}, CPU ${ratio("cpu")}`);
  }
}
