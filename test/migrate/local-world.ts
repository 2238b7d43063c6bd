import { execFileSync } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createContext, type Context } from "../../src/context.js";
import { Secret } from "../../src/lib/redact.js";
import { presignUrl } from "../../src/lib/s3-presign.js";
import { buildEngineDeps } from "../../src/migrate/deps.js";
import { startMigration } from "../../src/migrate/engine.js";
import { planMigration } from "../../src/migrate/plan.js";
import type { MigrateEvent, MigrateOutcome, VerifyMode } from "../../src/migrate/types.js";
import { startSandbox, type RunningSandbox } from "../../src/sandbox/index.js";
import type { Instance, JournalEntry } from "../../src/state/types.js";
import { budgetSetting, sshOptionsForLoad } from "../helpers/budget.js";
import { makeHome, MemoryStream, runCli, type Sandbox as Home } from "../helpers/cli.js";
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
  /** Provisions a user on hetzner (the CLI, in-process) with its agent running: its row and its host's /data. */
  provision(user: string): Promise<{ row: Instance; data: string }>;
  /**
   * Migrates a user from hetzner to digitalocean through the engine, `atFreeze` called as the
   * freeze starts (to change /data behind the warm copy's back); the outcome, the journal and the
   * new row.
   */
  migrate(user: string, verify: VerifyMode, atFreeze: (e: MigrateEvent) => void): Promise<{ outcome: MigrateOutcome; journal: JournalEntry[]; target: Instance | undefined }>;
  cleanup(): Promise<void>;
}

/** What a step's journal entry recorded when it was done. */
export function stepDone(journal: JournalEntry[], step: string): Record<string, unknown> | undefined {
  return journal.find((e) => e.step === step && e.phase === "done")?.data;
}

/**
 * The quick check trusts a file's times only when they were more than 2 s old at the warm listing
 * (a write in the same clock tick leaves them as they were): seeded files must age past that to
 * count as unchanged.
 */
export function agePastRacyWindow(): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, 3000));
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
  const context = (extra: Record<string, string> = {}): Context =>
    createContext({ streams: { stdout: new MemoryStream(), stderr: new MemoryStream(), stdin: process.stdin }, env: env(extra) });
  return {
    sandbox, home, hosts, root, env,
    context,
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
    async provision(user) {
      const made = await runCli(["provision", user, "--provider", "hetzner", "--region", "fsn1", "--size", "cx22", "--json"], { env: env() });
      if (made.code !== 0) throw new Error(`provision ${user} exited ${made.code}: ${made.stderr}`);
      const ctx = context();
      const row = (await (await ctx.state()).getInstance(user))!;
      await ctx.dispose();
      writeFileSync(join(hosts.dir(row), "agent"), "running\n");
      return { row, data: join(hosts.dir(row), "data") };
    },
    async migrate(user, verify, atFreeze) {
      const ctx = context();
      const deps = await buildEngineDeps(ctx, hosts.run, (e) => {
        if (e.step === "freeze" && e.phase === "start") atFreeze(e);
      });
      try {
        const plan = await planMigration(ctx, { users: [user], from: "hetzner", to: "digitalocean", keepSourceMs: 3_600_000, verify });
        const outcome = await startMigration(deps, user, plan.users[0]!.params);
        const state = await ctx.state();
        return { outcome, journal: await state.listJournal(outcome.op), target: (await state.listInstances({ user })).find((r) => r.provider === "digitalocean") };
      } finally {
        await deps.close();
        await ctx.dispose();
      }
    },
    cleanup: async () => {
      await sandbox.close();
      home.cleanup();
      rmSync(root, { recursive: true, force: true });
    },
  };
}
