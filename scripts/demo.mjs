// `npm run demo`: automna's main job on the embedded defaults, in a throwaway home so it never
// touches your own config or state. Each step prints the command it runs, as you would type it.
import { execFileSync } from "node:child_process";
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

const bin = new URL("../dist/bin/automna.js", import.meta.url).pathname;
const home = mkdtempSync(join(tmpdir(), "automna-demo-"));
const env = { ...process.env, HOME: home, XDG_CONFIG_HOME: join(home, "config"), XDG_DATA_HOME: join(home, "data") };

function automna(...args) {
  console.log(`\n$ automna ${args.join(" ")}`);
  execFileSync(process.execPath, [bin, ...args], { stdio: "inherit", env });
}

console.log(`demo home: ${home}`);
automna("init", "--provider", "hetzner", "--region", "fsn1", "--size", "cx22", "--image", "ghcr.io/automna/agent:latest", "--ssh-public-key", "", "--no-input");
automna("config", "list");
automna("config", "path");
