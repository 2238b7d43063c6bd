import { execFileSync } from "node:child_process";
import { createHash } from "node:crypto";
import { lstatSync, readdirSync, readFileSync, readlinkSync } from "node:fs";
import { join, relative } from "node:path";
import type { S3Limits } from "../../src/sandbox/s3-uploads.js";
import { expect } from "vitest";
import { automna } from "../helpers/bin.js";
import { budgetSetting, sshOptionsForLoad } from "../helpers/budget.js";
import { makeHome, runCli, type Sandbox as Home } from "../helpers/cli.js";
import { sandbox, type Sandbox } from "../sandbox/helpers.js";

/** SSH port of this suite's sandbox hosts (each host has its own loopback address). */
export const SSH_PORT = 22122;

export const PLACES = { hetzner: ["fsn1", "cx22"], digitalocean: ["fra1", "s-1vcpu-2gb"], fly: ["ams", "shared-cpu-1x-2gb"], koyeb: ["fra", "micro"] } as const;
export type ProviderName = keyof typeof PLACES;

export interface MigrateWorld {
  sb: Sandbox;
  home: Home;
  /** automna's environment: the sandbox (APIs, hosts, object store, DNS), a client key, fast health checks. */
  env: Record<string, string>;
  cleanup(): Promise<void>;
}

/**
 * A sandbox whose hosts run a busy simulated agent (by default it rewrites JSON and appends to
 * blobs every 50 ms, so /data changes between the warm copy and the freeze), and a home pointed at it.
 */
export async function migrateWorld(options: { addressBase: string; rateLimitScale?: number; seedBytes?: number; writeEveryMs?: number; s3Limits?: Partial<S3Limits>; seedCloudflare?: number }): Promise<MigrateWorld> {
  const sb = await sandbox({
    // Its own /16 per test file: a frozen or held agent leaves its address looking free to another
    // sandbox's probe, and two hosts on one address would answer each other's health checks.
    addressBase: options.addressBase,
    actionDelayMs: 15, rateLimitScale: options.rateLimitScale ?? 1000, sshPort: SSH_PORT, s3Limits: options.s3Limits,
    agent: { logIntervalMs: 500, dataWriteIntervalMs: options.writeEveryMs ?? 50, seedBytes: options.seedBytes ?? 1024 * 1024, maxDataBytes: 16 * 1024 * 1024 },
    ...(options.seedCloudflare ? { seed: { "cloudflare-sandbox": options.seedCloudflare } } : {}),
  });
  const home = makeHome();
  const keyFile = join(home.dir, "id_ed25519");
  execFileSync("ssh-keygen", ["-q", "-t", "ed25519", "-N", "", "-C", "operator@test", "-f", keyFile]);
  const env = {
    ...home.env, ...sb.env(), AUTOMNA_POLL_MS: "10", AUTOMNA_RATE_SCALE: String(options.rateLimitScale ?? 1000), ...sshOptionsForLoad(), AUTOMNA_IMAGE: "ghcr.io/automna/agent:1",
    AUTOMNA_SSH_PORT: String(SSH_PORT), AUTOMNA_SSH_PUBLIC_KEY: `${keyFile}.pub`, AUTOMNA_SSH_IDENTITY_FILE: keyFile,
    // How long a target may take to answer its health checks, and a lease lives between heartbeats: longer on a busy machine.
    AUTOMNA_HEALTH_CHECKS: "3", AUTOMNA_HEALTH_INTERVAL: "20ms", AUTOMNA_HEALTH_TIMEOUT: budgetSetting(20_000), AUTOMNA_MIGRATE_LEASE_TTL: budgetSetting(30_000),
  };
  return {
    sb, home, env,
    cleanup: async () => {
      await sb.cleanup();
      home.cleanup();
    },
  };
}

/**
 * The same sandbox seen from a home of its own (its own state database and known_hosts), for
 * tests that migrate side by side as if from different operators' machines. Clean it up with
 * `cleanup()` (the sandbox stays).
 */
export function ownHome(w: MigrateWorld): MigrateWorld {
  const home = makeHome();
  return { sb: w.sb, home, env: { ...w.env, ...home.env }, cleanup: async () => home.cleanup() };
}

export async function provision(w: MigrateWorld, provider: ProviderName, users: string[]): Promise<void> {
  const [region, size] = PLACES[provider];
  const res = await runCli(["provision", ...users, "--provider", provider, "--region", region, "--size", size, "--concurrency", "16", "--json"], { env: w.env });
  if (res.code !== 0) throw new Error(`provision failed: ${res.stderr}`);
  await w.sb.settled();
}

/**
 * Extra data on a user's instance, written over ssh/exec like an operator would: a few MB of
 * random binary files, a name with spaces, a symlink, an empty directory.
 */
export async function seed(w: MigrateWorld, user: string, megabytes = 3): Promise<void> {
  const script = [
    "set -eu",
    'D="${AUTOMNA_DATA:-/data}"',
    'mkdir -p "$D/blobs" "$D/empty dir" "$D/uploads"',
    `i=0; while [ $i -lt ${megabytes} ]; do head -c 1048576 /dev/urandom > "$D/uploads/file $i.bin"; i=$((i+1)); done`,
    'printf "notes\\n" > "$D/notes/with spaces.md"',
    'ln -sf "../uploads/file 0.bin" "$D/blobs/latest"',
  ].join("\n");
  // One argument: like ssh, exec hands the remote shell its words joined by spaces.
  const res = await runCli(["exec", user, "--", script], { env: w.env });
  if (res.code !== 0) throw new Error(`seeding ${user} failed: ${res.stderr}`);
}

/** The sandbox directory of the instance's host (its /data is `<dir>/data`). */
export function hostDir(w: MigrateWorld, instance: { provider: string; resources: Record<string, string> }): string {
  // A Koyeb service's host keeps its /data across deployments (the volume stays with the service).
  const id = instance.resources.server ?? instance.resources.droplet ?? instance.resources.machine ?? instance.resources.service!;
  return join(w.sb.dir, "hosts", `${instance.provider}-${id}`);
}

/** path -> sha256 (files), link target, or "dir": the whole tree, to compare two /data. */
export function tree(dir: string): Record<string, string> {
  const out: Record<string, string> = {};
  const walk = (d: string): void => {
    for (const name of readdirSync(d)) {
      const p = join(d, name);
      const st = lstatSync(p);
      const rel = relative(dir, p);
      if (st.isSymbolicLink()) out[rel] = `-> ${readlinkSync(p)}`;
      else if (st.isDirectory()) {
        out[`${rel}/`] = "dir";
        walk(p);
      } else out[rel] = createHash("sha256").update(readFileSync(p)).digest("hex");
    }
  };
  walk(dir);
  return out;
}

export function bytesOf(dir: string): number {
  let n = 0;
  const walk = (d: string): void => {
    for (const name of readdirSync(d)) {
      const p = join(d, name);
      const st = lstatSync(p);
      if (st.isDirectory()) walk(p);
      else if (st.isFile()) n += st.size;
    }
  };
  walk(dir);
  return n;
}

export interface InstanceRow { user: string; role: string; provider: string; status: string; resources: Record<string, string>; addresses: Record<string, string>; meta: Record<string, unknown> }

export async function instances(w: MigrateWorld, user: string): Promise<InstanceRow[]> {
  const { createContext } = await import("../../src/context.js");
  const { MemoryStream } = await import("../helpers/cli.js");
  const ctx = createContext({ streams: { stdout: new MemoryStream(), stderr: new MemoryStream(), stdin: process.stdin }, env: w.env });
  try {
    return await (await ctx.state()).listInstances({ user });
  } finally {
    await ctx.dispose();
  }
}

/** The manifest the engine computes on hosts (scripts.ts manifestScript), computed here in Node: its digest. */
export function manifestDigest(dir: string): string {
  const paths: string[] = [];
  const walk = (d: string): void => {
    for (const name of readdirSync(d)) {
      const p = join(d, name);
      paths.push(p);
      if (lstatSync(p).isDirectory()) walk(p);
    }
  };
  walk(dir);
  const rel = paths.map((p) => `./${relative(dir, p)}`).sort((a, b) => Buffer.compare(Buffer.from(a), Buffer.from(b)));
  const lines = rel.map((r) => {
    const p = join(dir, r);
    const st = lstatSync(p);
    if (st.isSymbolicLink()) return `l - ${createHash("sha256").update(`${readlinkSync(p)}\n`).digest("hex")} ${r}`;
    if (st.isDirectory()) return `d - - ${r}`;
    if (st.isFile()) return `f ${st.size} ${createHash("sha256").update(readFileSync(p)).digest("hex")} ${r}`;
    return `o - - ${r}`;
  });
  return createHash("sha256").update(lines.join("\n")).digest("hex");
}

/**
 * The digest of a directory's canonical listing as the engine's quick verification records it
 * (src/migrate/shell.ts): `<type> <size> ./<path>` lines, size "-" for directories and others,
 * sorted bytewise, each ending in a newline.
 */
export function listingDigestOf(dir: string): string {
  const lines: Buffer[] = [];
  const walk = (d: string): void => {
    for (const name of readdirSync(d)) {
      const p = join(d, name);
      const st = lstatSync(p);
      const type = st.isSymbolicLink() ? "l" : st.isDirectory() ? "d" : st.isFile() ? "f" : "o";
      lines.push(Buffer.from(`${type} ${type === "f" || type === "l" ? st.size : "-"} ./${relative(dir, p)}`));
      if (type === "d") walk(p);
    }
  };
  walk(dir);
  const hash = createHash("sha256");
  for (const line of lines.sort(Buffer.compare)) hash.update(line).update("\n");
  return hash.digest("hex");
}

/**
 * The target has everything the frozen source had: files the agent never touches are identical;
 * the ones it keeps writing after it started on the target have the source's content as their start
 * (blobs are appended to; conversation documents keep their messages and add new ones, the oldest
 * falling off once a document holds its window of messages, however long the target has run).
 */
export function expectCarriedOver(source: string, target: string): string[] {
  const problems: string[] = [];
  const src = tree(source);
  const dst = tree(target);
  for (const [path, value] of Object.entries(src)) {
    if (!(path in dst)) problems.push(`${path} missing`);
    else if (dst[path] === value) continue;
    else if (/^blobs\/blob-\d+\.bin$/.test(path)) {
      const a = readFileSync(join(source, path));
      if (!readFileSync(join(target, path)).subarray(0, a.length).equals(a)) problems.push(`${path} does not start with the source's bytes`);
    } else if (/^memory\/conversations-\d+\.json$/.test(path)) {
      const a = (JSON.parse(readFileSync(join(source, path), "utf8")) as { messages: unknown[] }).messages;
      const b = (JSON.parse(readFileSync(join(target, path), "utf8")) as { messages: unknown[] }).messages;
      if (!continuesFrom(a, b)) problems.push(`${path} lost messages`);
    } else problems.push(`${path} differs`);
  }
  return problems;
}

/**
 * Whether `after` is `before` with messages appended and then, at most, its oldest ones dropped by
 * the agent's window (AgentData keeps the last 200): some suffix of `before` is where `after` starts.
 */
function continuesFrom(before: unknown[], after: unknown[]): boolean {
  const a = before.map((m) => JSON.stringify(m));
  const b = after.map((m) => JSON.stringify(m));
  for (let dropped = 0; dropped <= a.length; dropped++) {
    const kept = a.slice(dropped);
    // Messages fall off only from a full document.
    if (kept.every((m, i) => b[i] === m)) return dropped === 0 || b.length >= WINDOW;
  }
  return false;
}

/** How many messages a simulated agent's conversation document keeps (src/sandbox/host/agent-data.ts). */
const WINDOW = 200;

/** The id of `user`'s migration in this home (`automna migrate status`, in-process). */
export async function migrationOf(w: Pick<MigrateWorld, "env">, user: string): Promise<string> {
  const res = await runCli(["migrate", "status", "-o", "json", "--limit", "1000"], { env: w.env });
  if (res.code !== 0) throw new Error(`migrate status exited ${res.code}: ${res.stderr}`);
  const row = res.json<{ op: string; user: string }[]>().find((r) => r.user === user);
  if (!row) throw new Error(`no migration of ${user}`);
  return row.op;
}

/**
 * The crash tests' chain: `migrate <user> --from --to` (the built binary) SIGKILLed at the first
 * point (AUTOMNA_CRASH_AT), then `migrate resume` SIGKILLed at each next point in turn. Each kill
 * is asserted, naming the point. Returns the operation, for the last resume the caller makes.
 */
export async function killedAlong(w: Pick<MigrateWorld, "env">, user: string, route: { from: string; to: string }, chain: string[], quietMs: number): Promise<string> {
  const [first, ...then] = chain;
  const killed = await automna(["migrate", user, "--from", route.from, "--to", route.to, "--yes", "--json"], { ...w.env, AUTOMNA_CRASH_AT: first! }, { quietMs });
  expect(killed.signal, `migrate killed at ${first}: ${killed.stderr}`).toBe("SIGKILL");
  const op = await migrationOf(w, user);
  for (const point of then) {
    const again = await automna(["migrate", "resume", op, "--json", "--yes"], { ...w.env, AUTOMNA_CRASH_AT: point }, { quietMs });
    expect(again.signal, `resume killed at ${point}: ${again.stderr}`).toBe("SIGKILL");
  }
  return op;
}
