import type { Context } from "../context.js";
import type { DnsProvider } from "../dns/types.js";
import { ConfigError } from "../lib/errors.js";
import { parseByteSize, parseDuration } from "../lib/validate.js";
import type { Config } from "../lib/config.js";
import { LEASE_TTL_MS } from "../state/lease.js";
import type { StateStore } from "../state/types.js";
import { crashPointFromEnv } from "./crash.js";
import { DEFAULT_TRANSFER, type TransferSettings } from "./transfer.js";
import type { EngineDeps, HealthSettings, HostRunner, MigrateEvent } from "./types.js";

/** Health-check settings from config (health.port/path/checks/interval/timeout). */
export async function healthSettings(ctx: Context): Promise<HealthSettings> {
  const config = await ctx.config();
  const duration = (key: string, fallback: string): number => parseDuration(key, config.getString(key) ?? fallback);
  const checks = config.getNumber("health.checks") ?? 3;
  if (!Number.isInteger(checks) || checks < 1) throw new ConfigError(`health.checks must be a whole number of at least 1, got ${checks}`);
  return {
    port: config.getNumber("health.port") ?? 8080,
    path: config.getString("health.path") ?? "/healthz",
    checks,
    intervalMs: duration("health.interval", "1s"),
    timeoutMs: duration("health.timeout", "120s"),
  };
}

/** When archives go to storage in parts, and how large (storage.multipartThreshold, storage.partSize). */
export async function transferSettings(ctx: Context): Promise<TransferSettings> {
  const config = await ctx.config();
  const size = (key: string): number | undefined => {
    const v = config.getString(key);
    if (v === undefined) return undefined;
    try {
      return parseByteSize(key, v);
    } catch (error) {
      throw new ConfigError((error as Error).message, { hint: `automna config set ${key} 64MiB` });
    }
  };
  const multipartThreshold = size("storage.multipartThreshold") ?? DEFAULT_TRANSFER.multipartThreshold;
  const partSize = size("storage.partSize") ?? DEFAULT_TRANSFER.partSize;
  const MIB = 1024 * 1024;
  if (multipartThreshold > 5 * 1024 * MIB) throw new ConfigError("storage.multipartThreshold must be at most 5GiB (the largest single upload S3 and R2 take)");
  if (partSize < MIB || partSize % MIB !== 0 || partSize > 5 * 1024 * MIB) throw new ConfigError(`storage.partSize must be a whole number of MiB from 1MiB to 5GiB, got ${partSize} bytes`, { hint: "S3 and R2 need at least 5MiB for every part but the last" });
  return { multipartThreshold, partSize };
}

/** The DNS provider and name template, null when neither is configured; half a setup is an error. */
export async function dnsFromConfig(ctx: Context): Promise<{ provider: DnsProvider; template: string } | null> {
  const config = await ctx.config();
  const template = config.getString("dns.template");
  const token = config.secret("cloudflare.token");
  if (!template && !token) return null;
  if (!template) throw new ConfigError("cloudflare.token is set but dns.template is not (AUTOMNA_DNS_TEMPLATE)", { hint: "automna config set dns.template '{user}.agents.example.com'" });
  const { CloudflareDns } = await import("../dns/cloudflare.js");
  return { provider: CloudflareDns.fromConfig(config, { signal: ctx.signal, debug: (line) => ctx.io.debug(line) }), template };
}

export function abortableSleep(signal: AbortSignal): (ms: number) => Promise<void> {
  return (ms) => new Promise((resolve) => {
    if (signal.aborted) return resolve();
    const timer = setTimeout(done, ms);
    function done(): void {
      clearTimeout(timer);
      signal.removeEventListener("abort", done);
      resolve();
    }
    signal.addEventListener("abort", done, { once: true });
  });
}

/**
 * A migration's lease TTL when migrate.leaseTtl is not set: 60 s, and on a state server half as
 * long again as its calls wait out an outage (state.retryFor), so a lease renewed just before the
 * server went away is still live when it is back and the migration goes on (renewed at once,
 * state/lease.ts) instead of standing down. Never more than the general lease TTL.
 */
async function defaultLeaseTtlMs(config: Config, state: StateStore): Promise<number> {
  if (!state.onWait) return Math.min(LEASE_TTL_MS, 60_000);
  const { stateRetryForMs } = await import("../state/open.js");
  return Math.min(LEASE_TTL_MS, Math.max(60_000, Math.ceil(stateRetryForMs(config) * 1.5)));
}

/** The profile's fleet key file: `fleet.key` in its data directory (src/lib/fleet-key.ts). */
export async function fleetKeyPath(ctx: Context): Promise<string> {
  const [{ join }, { profileDataDir, profileName }] = await Promise.all([import("node:path"), import("../lib/paths.js")]);
  return join(profileDataDir(ctx.env, profileName(ctx.globals.profile, ctx.env)), "fleet.key");
}

/** Everything the engine needs from a command's context; `close()` frees the clients. */
export async function buildEngineDeps(ctx: Context, run: HostRunner, emit: (event: MigrateEvent) => void): Promise<EngineDeps & { close(): Promise<void> }> {
  const [config, state, registry] = await Promise.all([ctx.config(), ctx.state(), ctx.providers()]);
  const [{ storageSettingsFromConfig }, { StorageClient }] = await Promise.all([import("../lib/s3-presign.js"), import("../lib/s3-objects.js")]);
  const storage = storageSettingsFromConfig(config);
  const objects = new StorageClient(storage, { signal: ctx.signal, debug: (line) => ctx.io.debug(line) });
  const dns = await dnsFromConfig(ctx);
  const ttl = config.source("migrate.leaseTtl") === "default" ? undefined : config.getString("migrate.leaseTtl");
  const leaseTtlMs = ttl ? parseDuration("migrate.leaseTtl", ttl) : await defaultLeaseTtlMs(config, state);
  if (leaseTtlMs < 1000) throw new ConfigError("migrate.leaseTtl must be at least 1s");
  return {
    state, registry, run, storage, objects, dns, emit, health: await healthSettings(ctx), transfer: await transferSettings(ctx), who: await ctx.operator(), now: () => ctx.clock.now(), leaseTtlMs,
    signal: ctx.signal, crash: crashPointFromEnv(ctx.env), sleep: abortableSleep(ctx.signal), fleetKeyFile: await fleetKeyPath(ctx),
    async close() {
      await objects.close();
      await dns?.provider.close();
    },
  };
}
