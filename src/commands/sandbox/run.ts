import { execFileSync } from "node:child_process";
import { existsSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { join, resolve } from "node:path";
import type { Context } from "../../context.js";
import type { ConfigValue } from "../../lib/config.js";
import { AutomnaError, UsageError } from "../../lib/errors.js";
import { automnaDataDir } from "../../lib/paths.js";
import type { ProviderId } from "../../providers/catalog.js";
import { MANIFESTS } from "../../providers/manifests.js";

/** The documented fixed base port: hetzner N, digitalocean N+1, fly N+2, admin N+3 (each manifest's `sandbox.portOffset`). */
export const DEFAULT_PORT = 47100;
export const PROFILE = "sandbox";

export interface UpOptions {
  detach?: boolean;
  dir?: string;
  port?: number;
  actionDelay?: number;
  rateLimitScale?: number;
  rateLimits?: boolean;
  healthPort?: number;
  /** SSH port of every simulated host (default 22 as root, else 2222). */
  sshPort?: number;
  /** Simulated one-way latency of the hosts' SSH connections, in ms. */
  sshLatency?: number;
  faults?: string;
  /** `--seed-cloudflare N`: N users on the Cloudflare Sandbox stand-in, with data in R2, that automna does not know yet. */
  seedCloudflare?: number;
  /** Set in the background process `up --detach` starts. */
  internalDaemon?: boolean;
}

export interface UpResult {
  running: true;
  alreadyRunning: boolean;
  detached: boolean;
  pid: number;
  dir: string;
  urls: Record<ProviderId | "admin", string> & { s3?: string; cloudflare?: string };
  /** The SSH port of the simulated hosts (written to the profile as ssh.port). */
  sshPort: number;
  profile: string;
  config: string;
  /** What was written to the profile; tokens masked. */
  settings: Record<string, ConfigValue>;
  /** Environment variables that override the profile and would point automna elsewhere. */
  overriddenBy: string[];
  /** The mapping of seeded Cloudflare Sandbox users, for `automna import --from-file` (with --seed-cloudflare). */
  seededMapping?: string;
}

export function sandboxDir(ctx: Context, dir?: string): string {
  return resolve(ctx.cwd, dir ?? join(automnaDataDir(ctx.env), "sandbox"));
}

/**
 * The sandbox `status` and `down` mean: --dir, else the one whose profile `up` wrote (the
 * active --profile, or `sandbox`), which remembers its directory, else the default one.
 */
async function upDir(ctx: Context, dir: string | undefined): Promise<string> {
  if (dir !== undefined) return sandboxDir(ctx, dir);
  const { Config } = await import("../../lib/config.js");
  const config = await Config.open({ path: ctx.globals.config, profile: ctx.globals.profile ?? ctx.env.AUTOMNA_PROFILE ?? PROFILE, env: ctx.env });
  const remembered = config.fileValue("sandbox.dir");
  return sandboxDir(ctx, typeof remembered === "string" ? remembered : undefined);
}

const OVERRIDES = [
  "AUTOMNA_STATE", "AUTOMNA_STATE_URL", "AUTOMNA_SSH_PORT", "AUTOMNA_SSH_PUBLIC_KEY", "AUTOMNA_SSH_IDENTITY_FILE",
  ...MANIFESTS.flatMap((m) => [m.token.env, m.url.env, ...m.settings.flatMap((k) => (k.env ? [k.env] : []))]),
  "AUTOMNA_PROVIDER", "AUTOMNA_REGION", "AUTOMNA_SIZE",
];

/**
 * The sandbox's own SSH key pair (`<dir>/ssh/id_ed25519`), made once: provision registers its
 * public half with the stand-ins and ssh/exec/logs log in with it, so the sandbox needs no setup.
 */
export async function sandboxKeyPair(dir: string): Promise<{ publicKey: string; identityFile: string }> {
  const identityFile = join(dir, "ssh", "id_ed25519");
  const publicKey = `${identityFile}.pub`;
  if (existsSync(identityFile) && existsSync(publicKey)) return { publicKey, identityFile };
  mkdirSync(join(dir, "ssh"), { recursive: true, mode: 0o700 });
  try {
    execFileSync("ssh-keygen", ["-q", "-t", "ed25519", "-N", "", "-C", "automna-sandbox", "-f", identityFile], { stdio: "ignore" });
  } catch {
    // No ssh-keygen here: the same OpenSSH ed25519 format, made by automna.
    const { generateHostKeyPair } = await import("../../access/host-key-gen.js");
    const pair = generateHostKeyPair("automna-sandbox");
    writeFileSync(identityFile, pair.privateKey.reveal(), { mode: 0o600 });
    writeFileSync(publicKey, `${pair.publicKey} automna-sandbox\n`);
  }
  return { publicKey, identityFile };
}

const STORAGE_OVERRIDES = ["AUTOMNA_STORAGE_ENDPOINT", "AUTOMNA_STORAGE_BUCKET", "AUTOMNA_STORAGE_ACCESS_KEY_ID", "AUTOMNA_STORAGE_SECRET_ACCESS_KEY", "CLOUDFLARE_API_TOKEN", "AUTOMNA_CLOUDFLARE_URL", "AUTOMNA_CLOUDFLARE_ZONE_ID", "AUTOMNA_DNS_TEMPLATE"];

/** Writes the `sandbox` profile so `automna --profile sandbox ...` talks to the sandbox. */
async function writeProfile(ctx: Context, dir: string, urls: UpResult["urls"], token: string, sshPort: number, zoneId: string | undefined): Promise<Pick<UpResult, "profile" | "config" | "settings" | "overriddenBy">> {
  const [{ Config }, { sandboxCredentials, SANDBOX_BUCKET, SANDBOX_ZONE }, { providerSettings }] = await Promise.all([
    import("../../lib/config.js"), import("../../sandbox/credentials.js"), import("../../sandbox/settings.js"),
  ]);
  const forProviders = providerSettings(urls, token);
  const config = await Config.open({ path: ctx.globals.config, profile: PROFILE, env: ctx.env });
  const settings: Record<string, ConfigValue> = {
    // The first provider listed, at its defaults.
    provider: MANIFESTS[0].id, region: MANIFESTS[0].defaultRegion, size: MANIFESTS[0].defaultSize,
    ...forProviders.config,
    "ssh.port": sshPort, "sandbox.dir": dir,
    // The sandbox's fleet lives with its world, never in the real fleet's database.
    "state.path": join(dir, "state.db"),
  };
  // Object storage and DNS for migrations and backups (the bucket and zone exist from the start).
  if (urls.s3) Object.assign(settings, { "storage.endpoint": urls.s3, "storage.bucket": SANDBOX_BUCKET, "storage.region": "auto" });
  if (urls.cloudflare && zoneId) Object.assign(settings, { "cloudflare.url": urls.cloudflare, "cloudflare.zoneId": zoneId, "dns.template": `{user}.${SANDBOX_ZONE}` });
  // The operator's own key stays if the profile has one; else the sandbox's pair (again if its files went away).
  const pub = config.fileValue("ssh.publicKey");
  const own = join(dir, "ssh", "id_ed25519.pub");
  if (pub === undefined || (pub === own && !existsSync(own))) {
    const pair = await sandboxKeyPair(dir);
    settings["ssh.publicKey"] = pair.publicKey;
    settings["ssh.identityFile"] = pair.identityFile;
  }
  const creds = sandboxCredentials(token);
  const secrets: Record<string, string> = { ...forProviders.secrets };
  if (urls.s3) Object.assign(secrets, { "storage.accessKeyId": creds.s3.accessKeyId, "storage.secretAccessKey": creds.s3.secretAccessKey });
  if (urls.cloudflare && zoneId) secrets["cloudflare.token"] = creds.cloudflareToken;
  config.setMany({ ...settings, ...secrets });
  return {
    profile: PROFILE,
    config: config.path,
    settings: { ...settings, ...Object.fromEntries(Object.keys(secrets).map((k) => [k, "***"])) },
    overriddenBy: [...OVERRIDES, ...STORAGE_OVERRIDES].filter((name) => ctx.env[name]),
  };
}

/** `hetzner N, digitalocean N+1, fly N+2, admin N+3, s3 N+4, cloudflare N+5` for --help. */
export function portPlan(): string {
  const offsets = [...MANIFESTS.map((m) => [m.id, m.sandbox.portOffset] as const), ["admin", 3] as const, ["s3", 4] as const, ["cloudflare", 5] as const];
  return offsets.sort((a, b) => a[1] - b[1]).map(([name, n]) => `${name} N${n ? `+${n}` : ""}`).join(", ");
}

function portsFrom(base: number): Record<ProviderId | "admin" | "s3" | "cloudflare", number> {
  const at = (offset: number): number => (base === 0 ? 0 : base + offset);
  return {
    ...Object.fromEntries(MANIFESTS.map((m) => [m.id, at(m.sandbox.portOffset)])) as Record<ProviderId, number>,
    admin: at(3), s3: at(4), cloudflare: at(5),
  };
}

async function answers(admin: string): Promise<boolean> {
  try {
    // A stale run file fails at once (nothing listens); a live sandbox on a busy machine can take
    // seconds to answer, and calling it "not running" then would start a second one.
    const res = await fetch(`${admin}/health`, { signal: AbortSignal.timeout(5000) });
    await res.arrayBuffer();
    return res.ok;
  } catch {
    return false;
  }
}

/** The sandbox serving `dir` right now, if any (its run file names a live process that answers). */
export async function runningSandbox(dir: string): Promise<import("../../sandbox/daemon.js").RunInfo | null> {
  const { readRunInfo, processAlive } = await import("../../sandbox/daemon.js");
  const info = readRunInfo(dir);
  if (!info || !processAlive(info.pid)) return null;
  return (await answers(info.urls.admin)) ? info : null;
}

function childArgs(dir: string, opts: UpOptions): string[] {
  const args = ["sandbox", "up", "--internal-daemon", "--dir", dir, "--port", String(opts.port ?? DEFAULT_PORT)];
  if (opts.actionDelay !== undefined) args.push("--action-delay", String(opts.actionDelay));
  if (opts.rateLimitScale !== undefined) args.push("--rate-limit-scale", String(opts.rateLimitScale));
  if (opts.rateLimits === false) args.push("--no-rate-limits");
  if (opts.healthPort !== undefined) args.push("--health-port", String(opts.healthPort));
  if (opts.sshPort !== undefined) args.push("--ssh-port", String(opts.sshPort));
  if (opts.sshLatency !== undefined) args.push("--ssh-latency", String(opts.sshLatency));
  if (opts.faults !== undefined) args.push("--faults", resolve(opts.faults));
  if (opts.seedCloudflare) args.push("--seed-cloudflare", String(opts.seedCloudflare));
  return args;
}

/** `up --detach`: starts the background process and waits until it answers. */
async function upDetached(ctx: Context, dir: string, opts: UpOptions): Promise<UpResult> {
  const daemon = await import("../../sandbox/daemon.js");
  const { readToken } = await import("../../sandbox/store.js");
  const existing = await runningSandbox(dir);
  let info = existing;
  if (!info) {
    const pid = daemon.spawnDetached(dir, childArgs(dir, opts), ctx.env);
    const deadline = Date.now() + 20_000;
    for (;;) {
      const candidate = daemon.readRunInfo(dir);
      if (candidate && candidate.pid === pid && (await answers(candidate.urls.admin))) {
        info = candidate;
        break;
      }
      if (!daemon.processAlive(pid) || Date.now() > deadline || ctx.signal.aborted) {
        if (daemon.processAlive(pid)) process.kill(pid, "SIGTERM");
        const tail = daemon.logTail(dir);
        throw new AutomnaError(`the sandbox did not start${tail ? `:\n${tail}` : ""}`, { hint: `see ${join(dir, daemon.LOG_FILE)}` });
      }
      await new Promise((r) => setTimeout(r, 50));
    }
  }
  const token = readToken(dir);
  if (!token) throw new AutomnaError(`the sandbox in ${dir} has no token file`);
  const { defaultSshPort } = await import("../../sandbox/index.js");
  const sshPort = info.sshPort ?? opts.sshPort ?? defaultSshPort();
  const seeded = opts.seedCloudflare ? { seededMapping: join(dir, (await import("../../sandbox/cloudflare-sandbox/index.js")).SEED_MAPPING) } : {};
  if (existing && opts.seedCloudflare) throw new UsageError(`a sandbox is already running on ${dir}: --seed-cloudflare seeds only when it starts`, { hint: "stop it with automna sandbox down, then start it again with --seed-cloudflare" });
  return { running: true, alreadyRunning: existing !== null, detached: info.detached, pid: info.pid, dir, urls: info.urls, sshPort, ...(await writeProfile(ctx, dir, info.urls, token, sshPort, info.cloudflareZoneId)), ...seeded };
}

export interface Foreground {
  result: UpResult;
  /** Resolves after Ctrl-C (ctx.signal) once the sandbox has shut down cleanly. */
  done: Promise<void>;
}

/** `up` in the foreground (or as the background process): serve until the signal aborts. */
async function upForeground(ctx: Context, dir: string, opts: UpOptions): Promise<Foreground> {
  const [{ startSandbox }, daemon] = await Promise.all([import("../../sandbox/index.js"), import("../../sandbox/daemon.js")]);
  const existing = await runningSandbox(dir);
  if (existing) throw new UsageError(`a sandbox is already running on ${dir} (pid ${existing.pid})`, { hint: 'stop it with "automna sandbox down" or use another --dir' });
  let faults: unknown;
  if (opts.faults !== undefined) {
    try {
      faults = JSON.parse(readFileSync(resolve(ctx.cwd, opts.faults), "utf8"));
    } catch (error) {
      throw new UsageError(`--faults: cannot read ${opts.faults}: ${(error as Error).message}`);
    }
    const { validateFaultSpec } = await import("../../sandbox/faults.js");
    const problem = validateFaultSpec(faults);
    if (problem) throw new UsageError(`--faults: ${problem}`);
  }
  const { parseS3Limits } = await import("../../sandbox/s3-uploads.js");
  const s3Limits = parseS3Limits(ctx.env.AUTOMNA_SANDBOX_S3_LIMITS);
  let sandbox;
  try {
    sandbox = await startSandbox({ s3Limits,
      dir, ports: portsFrom(opts.port ?? DEFAULT_PORT), actionDelayMs: opts.actionDelay, rateLimitScale: opts.rateLimitScale,
      rateLimits: opts.rateLimits, healthPort: opts.healthPort, sshPort: opts.sshPort, ...(opts.sshLatency ? { sshLatencyMs: opts.sshLatency } : {}),
      ...(faults ? { faults: faults as import("../../sandbox/index.js").FaultSpec } : {}),
      ...(opts.seedCloudflare ? { seed: { "cloudflare-sandbox": opts.seedCloudflare } } : {}),
    });
  } catch (error) {
    const err = error as NodeJS.ErrnoException;
    if (err.code === "EADDRINUSE") throw new UsageError(`a port the sandbox needs is in use (${err.message})`, { hint: "pass --port N for another base port, or --port 0 for ephemeral ports" });
    throw new AutomnaError(err.message, { cause: error });
  }
  const detached = opts.internalDaemon === true;
  // Ctrl-C (or `sandbox down`'s SIGTERM) is how a foreground sandbox is meant to stop: exit 0.
  ctx.abortIsStop = true;
  const sshPort = sandbox.sshPort ?? 0;
  daemon.writeRunInfo(dir, { pid: process.pid, dir, urls: sandbox.urls, cloudflareZoneId: sandbox.cloudflare.zoneId, startedAt: new Date().toISOString(), detached, sshPort });
  const profile = detached
    ? { profile: PROFILE, config: "", settings: {}, overriddenBy: [] }
    : await writeProfile(ctx, dir, sandbox.urls, sandbox.token, sshPort, sandbox.cloudflare.zoneId);
  const done = new Promise<void>((resolveDone) => {
    const stop = (): void => {
      void sandbox.close().finally(() => {
        daemon.removeRunInfo(dir, process.pid);
        resolveDone();
      });
    };
    if (ctx.signal.aborted) stop();
    else ctx.signal.addEventListener("abort", stop, { once: true });
  });
  const seededMapping = sandbox.seeded["cloudflare-sandbox"]?.mapping;
  return { result: { running: true, alreadyRunning: false, detached, pid: process.pid, dir, urls: sandbox.urls, sshPort, ...profile, ...(seededMapping ? { seededMapping } : {}) }, done };
}

export async function runSandboxUp(ctx: Context, opts: UpOptions): Promise<Foreground> {
  const dir = sandboxDir(ctx, opts.dir);
  const { prepareDir } = await import("../../sandbox/store.js");
  prepareDir(dir);
  if (opts.detach) return { result: await upDetached(ctx, dir, opts), done: Promise.resolve() };
  return upForeground(ctx, dir, opts);
}

export interface DownResult {
  dir: string;
  wasRunning: boolean;
  pid: number | null;
}

/** Stops the sandbox serving `dir` (SIGTERM, then waits for it to exit). */
export async function runSandboxDown(ctx: Context, opts: { dir?: string }): Promise<DownResult> {
  const dir = await upDir(ctx, opts.dir);
  const daemon = await import("../../sandbox/daemon.js");
  const info = daemon.readRunInfo(dir);
  if (!info || !daemon.processAlive(info.pid)) {
    if (info) daemon.removeRunInfo(dir, info.pid);
    return { dir, wasRunning: false, pid: null };
  }
  process.kill(info.pid, "SIGTERM");
  const deadline = Date.now() + 15_000;
  while (daemon.processAlive(info.pid)) {
    if (Date.now() > deadline) throw new AutomnaError(`the sandbox (pid ${info.pid}) did not stop within 15 s`, { hint: `kill it with: kill -9 ${info.pid}` });
    await new Promise((r) => setTimeout(r, 50));
  }
  daemon.removeRunInfo(dir, info.pid);
  return { dir, wasRunning: true, pid: info.pid };
}

export interface StatusResult {
  running: boolean;
  dir: string;
  pid: number | null;
  startedAt: string | null;
  urls: UpResult["urls"] | null;
  counts: Record<string, number>;
}

export async function runSandboxStatus(ctx: Context, opts: { dir?: string }): Promise<StatusResult> {
  const dir = await upDir(ctx, opts.dir);
  const info = await runningSandbox(dir);
  let counts: Record<string, number>;
  if (info) {
    const res = await fetch(`${info.urls.admin}/world`, { signal: AbortSignal.timeout(5000) });
    counts = ((await res.json()) as { counts: Record<string, number> }).counts;
  } else {
    const { World } = await import("../../sandbox/world.js");
    try {
      counts = World.load(dir, 0).counts();
    } catch (error) {
      throw new AutomnaError((error as Error).message);
    }
  }
  return { running: info !== null, dir, pid: info?.pid ?? null, startedAt: info?.startedAt ?? null, urls: info?.urls ?? null, counts };
}
