import { execFileSync } from "node:child_process";
import { join } from "node:path";
import { execa } from "execa";
import { expect } from "vitest";
import type { Context } from "../../src/context.js";
import { BIN } from "../helpers/bin.js";
import { budget, QUIET_MS, sshOptionsForLoad } from "../helpers/budget.js";
import { makeHome, runCli, type MemoryStream, type Sandbox as Home } from "../helpers/cli.js";
import { sandbox, type Sandbox } from "../sandbox/helpers.js";

/** A high SSH port for every test sandbox's hosts (each host has its own loopback address). */
export const SSH_PORT = 22022;

export interface AccessWorld {
  sb: Sandbox;
  home: Home;
  /** automna's environment: the sandbox's URLs and token, a fresh client key, ssh.port. */
  env: Record<string, string>;
  keyFile: string;
  cleanup(): Promise<void>;
}

/** A sandbox with a busy agent on every host, and a home whose automna talks to it. */
export async function accessWorld(): Promise<AccessWorld> {
  const sb = await sandbox({ actionDelayMs: 20, rateLimitScale: 100, sshPort: SSH_PORT, agent: { logIntervalMs: 25, dataWriteIntervalMs: 1000, seedBytes: 4096 } });
  const home = makeHome();
  const keyFile = join(home.dir, "id_ed25519");
  execFileSync("ssh-keygen", ["-q", "-t", "ed25519", "-N", "", "-C", "operator@test", "-f", keyFile]);
  const env = {
    ...home.env, ...sb.env(), AUTOMNA_POLL_MS: "10", AUTOMNA_RATE_SCALE: "100", ...sshOptionsForLoad(), AUTOMNA_IMAGE: "ghcr.io/automna/agent:1",
    AUTOMNA_SSH_PORT: String(SSH_PORT), AUTOMNA_SSH_PUBLIC_KEY: `${keyFile}.pub`, AUTOMNA_SSH_IDENTITY_FILE: keyFile,
  };
  return {
    sb, home, env, keyFile,
    cleanup: async () => {
      await sb.cleanup();
      home.cleanup();
    },
  };
}

const PLACES = { hetzner: ["fsn1", "cx22"], digitalocean: ["fra1", "s-1vcpu-2gb"], fly: ["ams", "shared-cpu-1x-2gb"] } as const;

/** Provisions users through `automna provision` and waits for their hosts. */
export async function provision(w: AccessWorld, provider: "hetzner" | "digitalocean", users: string[]): Promise<void> {
  const [region, size] = PLACES[provider];
  const res = await runCli(["provision", ...users, "--provider", provider, "--region", region, "--size", size, "--concurrency", "16", "--json"], { env: w.env });
  if (res.code !== 0) throw new Error(`provision failed: ${res.stderr}`);
  await w.sb.settled();
}

/** Fly users through `automna provision`, waiting for their machines' hosts. */
export async function provisionFly(w: AccessWorld, users: string[]): Promise<void> {
  const [region, size] = PLACES.fly;
  const res = await runCli(["provision", ...users, "--provider", "fly", "--region", region, "--size", size, "--json"], { env: w.env });
  if (res.code !== 0) throw new Error(`provision failed: ${res.stderr}`);
  await w.sb.settled();
}

/** The sandbox host key (`hetzner:51000001`) of a user's instance, from `automna status`. */
export async function hostKeyOf(w: AccessWorld, user: string): Promise<{ key: string; address: string }> {
  const status = await runCli(["status", user, "--json"], { env: w.env });
  const s = status.json<{ instance: { provider: string; resources: Record<string, string>; addresses: Record<string, string> } }>();
  const id = s.instance.resources.server ?? s.instance.resources.droplet ?? s.instance.resources.machine!;
  return { key: `${s.instance.provider}:${id}`, address: s.instance.addresses.ipv4 ?? s.instance.addresses.private! };
}

/** Seq numbers of the sandbox agent's lines (`... seq=N`). */
export function seqs(text: string): number[] {
  return [...text.matchAll(/seq=(\d+)/g)].map((m) => Number(m[1]));
}

/** Each number once, each one more than the one before. */
export function expectContiguous(ns: number[]): void {
  expect(ns.length).toBeGreaterThan(0);
  expect(ns).toEqual(Array.from({ length: ns.length }, (_, i) => ns[0]! + i));
}

/** Starts a follow in-process and hands back its live stdout and a way to stop it (Ctrl-C). */
export function followLogs(env: Record<string, string>, args: string[]): { out: () => string; stop: () => Promise<{ code: number; stdout: string; stderr: string }> } {
  const controller = new AbortController();
  let stdout: MemoryStream | undefined;
  const running = runCli(args, { env, signal: controller.signal, setup: (ctx: Context) => (stdout = ctx.io.streams.stdout as MemoryStream) });
  return {
    out: () => stdout?.text() ?? "",
    stop: async () => {
      controller.abort();
      return running;
    },
  };
}

/**
 * `automna logs <user> -f` through the built binary, interrupted with SIGINT once ten lines
 * have arrived: what a user's Ctrl-C leaves (exit code, stderr, the lines printed).
 */
export async function interruptFollow(env: Record<string, string>, user: string): Promise<{ exitCode: number | undefined; stderr: string; stdout: string }> {
  const child = execa(process.execPath, [BIN, "logs", user, "-f", "--tail", "1"], { env, extendEnv: false, reject: false, stdin: "ignore", timeout: budget(QUIET_MS.binaryRun) });
  let out = "";
  await new Promise<void>((resolve) => {
    child.stdout!.on("data", (c: Buffer) => {
      out += c.toString();
      if (seqs(out).length >= 10) resolve();
    });
  });
  child.kill("SIGINT");
  const r = await child;
  return { exitCode: r.exitCode, stderr: String(r.stderr), stdout: String(r.stdout) };
}
