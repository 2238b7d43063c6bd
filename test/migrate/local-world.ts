import { execFileSync } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createContext, type Context } from "../../src/context.js";
import { Secret } from "../../src/lib/redact.js";
import { presignUrl } from "../../src/lib/s3-presign.js";
import { startSandbox, type RunningSandbox } from "../../src/sandbox/index.js";
import { budgetSetting, sshOptionsForLoad } from "../helpers/budget.js";
import { makeHome, MemoryStream, type Sandbox as Home } from "../helpers/cli.js";
import { LocalHosts } from "./local-hosts.js";

/**
 * ENGINE TESTS: the sandbox's APIs, object store and DNS (no simulated hosts), a home pointed at
 * them, and local shell hosts (local-hosts.ts) the engine runs its scripts on.
 */
export interface LocalWorld {
  sandbox: RunningSandbox;
  home: Home;
  hosts: LocalHosts;
  root: string;
  /** automna's environment: the sandbox, fast polling and health checks, plus `extra`. */
  env(extra?: Record<string, string>): Record<string, string>;
  context(extra?: Record<string, string>): Context;
  /** The paths an archive in the sandbox's object store holds (tar -t), sorted. */
  archivePaths(key: string): Promise<string[]>;
  cleanup(): Promise<void>;
}

export async function localWorld(name: string, userland: "gnu" | "busybox" = "gnu"): Promise<LocalWorld> {
  const root = mkdtempSync(join(tmpdir(), `automna-${name}-`));
  const sandbox = await startSandbox({ dir: join(root, "world"), actionDelayMs: 10, rateLimitScale: 1000, simulatedHosts: false });
  const home = makeHome();
  const hosts = new LocalHosts(join(root, "local"), userland);
  const env = (extra: Record<string, string> = {}): Record<string, string> => ({
    ...home.env, ...sandbox.env(), AUTOMNA_IMAGE: "ghcr.io/automna/agent:1", AUTOMNA_POLL_MS: "5", AUTOMNA_RATE_SCALE: "1000", ...sshOptionsForLoad(),
    AUTOMNA_HEALTH_CHECKS: "2", AUTOMNA_HEALTH_INTERVAL: "10ms", AUTOMNA_HEALTH_TIMEOUT: budgetSetting(3000), ...extra,
  });
  return {
    sandbox, home, hosts, root, env,
    context: (extra = {}) => createContext({ streams: { stdout: new MemoryStream(), stderr: new MemoryStream(), stdin: process.stdin }, env: env(extra) }),
    async archivePaths(key) {
      const url = presignUrl({
        method: "GET", endpoint: sandbox.s3.url, bucket: sandbox.s3.bucket, key, region: sandbox.s3.region,
        accessKeyId: new Secret(sandbox.s3.accessKeyId), secretAccessKey: new Secret(sandbox.s3.secretAccessKey), expiresInSeconds: 600,
      });
      const res = await fetch(url);
      if (res.status !== 200) throw new Error(`GET ${key}: ${res.status}`);
      const file = join(root, key.replace(/\W/g, "_"));
      writeFileSync(file, Buffer.from(await res.arrayBuffer()));
      return execFileSync("tar", ["-tf", file], { encoding: "utf8" }).split("\n").filter(Boolean).map((p) => p.replace(/\/$/, "")).sort();
    },
    cleanup: async () => {
      await sandbox.close();
      home.cleanup();
      rmSync(root, { recursive: true, force: true });
    },
  };
}
