// Latency of `ssh host true` (the real OpenSSH client) against one sandbox host, with commands
// in a mount namespace (the default as root) and without, against bare `sh -c true` spawned
// locally. Also `ssh host 'docker ps'`, which adds the docker shim's node start-up.
// Usage: npm run build && node bench/ssh-host.mjs [runs]
// Runs are interleaved so machine noise hits every case alike. The hosts run in this process.
import { execFileSync, spawn } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { cpus, tmpdir } from "node:os";
import { join } from "node:path";
import { median } from "./lib/run.mjs";

const { startHost } = await import("../dist/src/sandbox/host/index.js");
const { pinHostKeys, sshArgs } = await import("../dist/src/lib/known-hosts.js");

const runs = Number(process.argv[2] ?? 20);
const dir = mkdtempSync(join(tmpdir(), "automna-bench-ssh-"));
const key = join(dir, "id");
execFileSync("ssh-keygen", ["-q", "-t", "ed25519", "-N", "", "-f", key]);
const knownHosts = join(dir, "known_hosts");
const authorizedKeys = [readFileSync(`${key}.pub`, "utf8")];
const hosts = {};
for (const [name, isolation, address] of [["ns", "auto", "127.77.250.1"], ["env", "env", "127.77.250.2"]]) {
  const h = await startHost({ id: `bench-${name}`, address, sshPort: 0, healthPort: 0, rootDir: join(dir, name), authorizedKeys, isolation });
  await pinHostKeys(knownHosts, { address, port: h.sshPort, keys: [h.hostKeyPublic] });
  hosts[name] = h;
}
const ssh = (h, command) => ["ssh", sshArgs({ address: h.address, port: h.sshPort, identityFile: key, knownHostsFile: knownHosts, configFile: "/dev/null", command })];
const cases = {
  "sh -c true (local spawn)": ["sh", ["-c", "true"]],
  [`ssh host true (${hosts.ns.isolation})`]: ssh(hosts.ns, "true"),
  "ssh host true (env only)": ssh(hosts.env, "true"),
  [`ssh host 'docker ps' (${hosts.ns.isolation})`]: ssh(hosts.ns, "docker ps"),
};
const run = ([cmd, args]) => new Promise((resolve, reject) => {
  const t0 = process.hrtime.bigint();
  const child = spawn(cmd, args, { stdio: ["ignore", "ignore", "inherit"] });
  child.on("error", reject);
  child.on("close", (code) => (code === 0 ? resolve(Number(process.hrtime.bigint() - t0) / 1e6) : reject(new Error(`${cmd} exited ${code}`))));
});
const times = Object.fromEntries(Object.keys(cases).map((k) => [k, []]));
for (const c of Object.values(cases)) await run(c); // warm-up
for (let i = 0; i < runs; i++) for (const [name, c] of Object.entries(cases)) times[name].push(await run(c));
const base = median(times[`ssh host true (${hosts.ns.isolation})`]);
console.log(`machine: ${cpus().length} x ${cpus()[0]?.model}, node ${process.version}, ${runs} runs each, interleaved`);
for (const [name, xs] of Object.entries(times)) {
  const m = median(xs);
  console.log(`${name.padEnd(36)} median ${m.toFixed(1)} ms   ratio ${(m / base).toFixed(2)}x`);
}
for (const h of Object.values(hosts)) await h.close();
rmSync(dir, { recursive: true, force: true });
