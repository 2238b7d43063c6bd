// `npm run demo`: automna's main job on the embedded defaults, in a throwaway home so it never
// touches your own config or state. It starts the sandbox (loopback stand-ins for the Hetzner,
// Fly and DigitalOcean APIs) in this process, provisions a few users on each provider, lists
// them, shows one's status, and stops the sandbox. Each step prints the command it runs.
import { spawn } from "node:child_process";
import { existsSync, mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

const bin = new URL("../dist/bin/automna.js", import.meta.url).pathname;
const sandboxModule = new URL("../dist/src/sandbox/index.js", import.meta.url);
const home = mkdtempSync(join(tmpdir(), "automna-demo-"));
let env = { ...process.env, HOME: home, XDG_CONFIG_HOME: join(home, "config"), XDG_DATA_HOME: join(home, "data") };

// Asynchronous on purpose: the sandbox answers from this same process while automna runs.
function automna(...args) {
  console.log(`\n$ automna ${args.join(" ")}`);
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [bin, ...args], { stdio: "inherit", env });
    child.on("error", reject);
    child.on("exit", (code) => (code === 0 ? resolve() : reject(new Error(`automna ${args[0]} exited ${code}`))));
  });
}

console.log(`demo home: ${home}`);
await automna("init", "--provider", "hetzner", "--region", "fsn1", "--size", "cx22", "--image", "ghcr.io/automna/agent:latest", "--ssh-public-key", "", "--no-input");
if (!existsSync(sandboxModule)) {
  console.log("\n(this build has no sandbox yet, so the demo stops at the configuration)");
  await automna("config", "list");
} else {
  const { startSandbox } = await import(sandboxModule.href);
  const sandbox = await startSandbox({ dir: join(home, "sandbox"), actionDelayMs: 300 });
  env = { ...env, ...sandbox.env(), AUTOMNA_POLL_MS: "100" };
  console.log(`sandbox up: ${Object.entries(sandbox.urls).map(([k, v]) => `${k} ${v}`).join(", ")}`);
  try {
    await automna("provision", "ann", "ben", "--provider", "hetzner", "--region", "fsn1", "--size", "cx22");
    await automna("provision", "cai", "dee", "--provider", "fly", "--region", "ams", "--size", "shared-cpu-1x-2gb");
    await automna("provision", "eve", "fin", "--provider", "do", "--region", "fra1", "--size", "s-1vcpu-2gb");
    await automna("list");
    await automna("status", "ann");
    await automna("doctor");
  } finally {
    await sandbox.close();
    console.log("\nsandbox stopped");
  }
}
