import { existsSync, readFileSync } from "node:fs";
import { ConfigError, UsageError } from "../lib/errors.js";
import type { Config } from "../lib/config.js";
import { defaultStatePath } from "../lib/paths.js";
import { parseDuration } from "../lib/validate.js";
import type { StateStore } from "./types.js";

export interface StateLocation {
  kind: "sqlite" | "http";
  /** File path or URL. */
  location: string;
}

/** `scheme://`: a URL, not a file name (a path may hold a colon, never right after its first word). */
const URL_LIKE = /^[A-Za-z][A-Za-z0-9+.-]*:\/\//;
const HTTP = /^https?:\/\//i;

/**
 * Where state lives: --state > AUTOMNA_STATE > config state.url / state.path > the profile's own
 * file under the XDG data directory (defaultStatePath: every profile has its own fleet).
 * A location is a file path or an http(s) URL; any other URL is refused rather than taken for a
 * file name (`--state ftp://x` would otherwise make a directory `ftp:`).
 */
export function resolveStateLocation(config: Config, flag: string | undefined): StateLocation {
  if (flag) {
    if (URL_LIKE.test(flag) && !HTTP.test(flag)) {
      throw new UsageError(`--state takes a file path or an http(s):// URL, got "${flag}"`, { hint: "e.g. --state ~/fleet/state.db or --state https://state.example.com (also AUTOMNA_STATE)" });
    }
    return { kind: HTTP.test(flag) ? "http" : "sqlite", location: flag };
  }
  const url = config.getString("state.url");
  if (url && !HTTP.test(url)) throw new ConfigError(`state.url must be an http(s):// URL, got "${url}"`, { hint: "automna config set state.url https://... (or unset it for the embedded database)" });
  if (url) return { kind: "http", location: url };
  return { kind: "sqlite", location: config.getString("state.path") ?? defaultStatePath(config.env, config.profile) };
}

export interface OpenStateOptions {
  /** Debug lines (HTTP traffic of the shared-state client; tokens never included). */
  debug?: (line: string) => void;
  /** Who the embedded store records in the audit log for every write (a state server takes it from the token). */
  operator?: string;
  /** Ctrl-C: cuts the state client's waits for an unreachable server short. */
  signal?: AbortSignal;
  /** A note for the operator (a profile that starts its own database beside the one all profiles shared before). */
  warn?: (line: string) => void;
}

/** Longest `state.retryFor` accepted: a day (a wait longer than that is a stuck command). */
const MAX_RETRY_FOR_MS = 24 * 3600_000;

/** `state.retryFor` (a duration, default 60s): how long state calls wait out a server outage. */
export function stateRetryForMs(config: Config): number {
  const value = config.getString("state.retryFor") ?? "60s";
  const ms = parseDuration("state.retryFor", value.trim());
  if (ms > MAX_RETRY_FOR_MS) throw new ConfigError(`state.retryFor must be at most 24h, got "${value}"`, { hint: "e.g. automna config set state.retryFor 2m (0s: do not wait)" });
  return ms;
}

export async function openStateStore(config: Config, flag: string | undefined, now?: () => Date, options: OpenStateOptions = {}): Promise<StateStore> {
  const where = resolveStateLocation(config, flag);
  if (where.kind === "http") {
    const caFile = config.getString("state.caFile");
    let ca: Buffer | undefined;
    if (caFile) {
      try {
        ca = readFileSync(caFile);
      } catch (error) {
        throw new ConfigError(`cannot read state.caFile ${caFile}: ${(error as Error).message}`);
      }
    }
    const { HttpStore } = await import("./http-store.js");
    return HttpStore.open(where.location, { token: config.secret("state.token"), ca, debug: options.debug, signal: options.signal, retryForMs: stateRetryForMs(config) });
  }
  if (options.warn) noteSharedDatabase(config, flag, where.location, options.warn);
  const { SqliteStore } = await import("./sqlite-store.js");
  return SqliteStore.open(where.location, {
    busyTimeoutMs: config.getNumber("state.busyTimeoutMs") ?? 5000, ...(now ? { now } : {}), ...(options.operator ? { operator: options.operator } : {}),
  });
}

/**
 * Before each profile had its own database, every profile used the default one. A non-default
 * profile that now starts an empty database of its own while that shared file exists says so once
 * (the first time), with the way back to the old file, so its fleet does not seem to vanish.
 */
function noteSharedDatabase(config: Config, flag: string | undefined, location: string, warn: (line: string) => void): void {
  if (flag || config.profile === "default" || config.getString("state.path") || existsSync(location)) return;
  const shared = defaultStatePath(config.env);
  if (!existsSync(shared)) return;
  warn(`profile ${config.profile} now keeps its own state in ${location}; the database every profile shared before (${shared}) stays with the default profile. To keep using it: automna --profile ${config.profile} config set state.path ${shared}`);
}
