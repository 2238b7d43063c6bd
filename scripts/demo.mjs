/* global performance */
// `npm run demo` (after the build step in package.json): automna's main job on the embedded
// defaults, in a throwaway home so it never touches your own config, state or sandbox. It starts
// the sandbox (loopback stand-ins for the Hetzner, Fly, DigitalOcean and Koyeb APIs) in the background,
// seeds three users on Cloudflare Sandbox that automna did not make, provisions a few users on each provider, lists them, shows one's status, runs commands on their
// machines and reads their logs, checks for drift and stops the sandbox. Each step prints the exact command it runs: copy them to try more.
import { spawn } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

const bin = new URL("../dist/bin/automna.js", import.meta.url).pathname;
const home = mkdtempSync(join(tmpdir(), "automna-demo-"));
// Only what the demo needs from the caller's environment: a token or URL exported for real
// providers must not send the demo anywhere but the sandbox.
const env = {
  PATH: process.env.PATH ?? "", HOME: home, USER: process.env.USER ?? "demo",
  XDG_CONFIG_HOME: join(home, "config"), XDG_DATA_HOME: join(home, "data"),
  ...(process.env.NO_COLOR !== undefined ? { NO_COLOR: process.env.NO_COLOR } : {}),
};
const started = performance.now();

function automna(...args) {
  console.log(`\n$ automna ${args.join(" ")}`);
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [bin, ...args], { stdio: "inherit", env });
    child.on("error", reject);
    child.on("exit", (code) => (code === 0 ? resolve() : reject(new Error(`automna ${args.join(" ")} exited ${code}`))));
  });
}

console.log(`demo home (thrown away afterwards): ${home}`);
let up = false;
let failed = false;
try {
  // --port 0: ephemeral ports, so a sandbox you already run on 47100 is left alone.
  // --seed-cloudflare 3: three users already on Cloudflare Sandbox (data in R2), unknown to automna.
  await automna("sandbox", "up", "--detach", "--port", "0", "--action-delay", "200", "--seed-cloudflare", "3");
  up = true;
  const sandbox = ["--profile", "sandbox"];
  await automna(...sandbox, "config", "set", "image", "ghcr.io/automna/agent:latest");
  await automna(...sandbox, "provision", "ann", "ben", "--provider", "hetzner", "--region", "fsn1", "--size", "cx22");
  await automna(...sandbox, "provision", "cai", "dee", "--provider", "fly", "--region", "ams", "--size", "shared-cpu-1x-2gb");
  await automna(...sandbox, "provision", "eve", "fin", "--provider", "do", "--region", "fra1", "--size", "s-1vcpu-2gb");
  await automna(...sandbox, "provision", "gus", "--provider", "koyeb", "--region", "fra", "--size", "micro");
  await automna(...sandbox, "list");
  await automna(...sandbox, "status", "ann");
  // Into the machines: OpenSSH for Hetzner/DigitalOcean (host keys pinned at provision), the
  // Machines API for Fly, the exec WebSocket for Koyeb.
  await automna(...sandbox, "ssh", "ann", "--", "docker", "ps");
  await automna(...sandbox, "exec", "ann", "cai", "eve", "gus", "--", "du -sh /data");
  await automna(...sandbox, "logs", "ann", "cai", "eve", "gus", "--tail", "2");
  // The reason automna exists: move users from Fly to Hetzner with their data, verified, with
  // the DNS record switched; then what the fleet costs and what it would cost elsewhere.
  await automna(...sandbox, "migrate", "cai", "dee", "--from", "fly", "--to", "hetzner", "--dry-run");
  await automna(...sandbox, "migrate", "cai", "dee", "--from", "fly", "--to", "hetzner", "--yes");
  await automna(...sandbox, "migrate", "gus", "--from", "koyeb", "--to", "hetzner", "--yes");
  await automna(...sandbox, "list");
  // The seed's migration path: take over the Cloudflare Sandbox fleet, price it, move it to Fly,
  // then on to Hetzner; the same checksums at every hop (files the agent never rewrites).
  const cf = ["cf-user-1", "cf-user-2", "cf-user-3"];
  const sums = ["--", "cd ${AUTOMNA_DATA:-/data} && sha256sum blobs/embedding.bin 'blobs/attachment with space.bin' memory/profile.json"];
  await automna(...sandbox, "import", "--from-file", join(env.XDG_DATA_HOME, "automna", "sandbox", "cloudflare-sandbox-users.csv"));
  await automna(...sandbox, "exec", ...cf, ...sums);
  await automna(...sandbox, "cost-report", "--compare", "--plan-price", "29,79");
  await automna(...sandbox, "migrate", "--all", "--from", "cloudflare-sandbox", "--to", "fly", "--yes");
  await automna(...sandbox, "exec", ...cf, ...sums);
  await automna(...sandbox, "migrate", "--all", "--from", "fly", "--to", "hetzner", "--yes");
  await automna(...sandbox, "exec", ...cf, ...sums);
  await automna(...sandbox, "list");
  await automna(...sandbox, "cost-report", "--compare", "--plan-price", "29,79");
  await automna(...sandbox, "doctor");
} catch (error) {
  failed = true;
  console.error(`\ndemo failed: ${error.message}`);
} finally {
  if (up) await automna("sandbox", "down").catch((error) => console.error(error.message));
  rmSync(home, { recursive: true, force: true });
}
console.log(`\ndemo ${failed ? "failed" : "done"} in ${((performance.now() - started) / 1000).toFixed(1)} s`);
process.exitCode = failed ? 1 : 0;
