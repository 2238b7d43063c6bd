import { chmodSync, mkdirSync, readFileSync, statSync } from "node:fs";
import { createRequire } from "node:module";
import { basename, dirname, extname, resolve } from "node:path";
import { CONFIG_KEYS, closest, findConfigKey, type ConfigKey } from "./config-keys.js";
import { ConfigError, UsageError } from "./errors.js";
import { defaultConfigPath, profileName } from "./paths.js";
import { Secret } from "./redact.js";

export type ConfigValue = string | number | boolean | string[];
export type ValueSource = "env" | "file" | "default" | "unset";

export interface ConfigEntry {
  key: string;
  /** Secrets are `***`. */
  value: ConfigValue | null;
  source: ValueSource;
  secret: boolean;
  env: string | null;
  description: string;
}

const PROFILE_RE = /^[a-z0-9][a-z0-9_-]{0,40}$/;

interface ConfStore {
  get(key: string): unknown;
  set(key: string, value: unknown): void;
  /** Several dotted keys in one read and one write of the file. */
  set(values: Record<string, unknown>): void;
  delete(key: string): void;
  readonly store: Record<string, unknown>;
  readonly path: string;
}

/**
 * The configuration file (JSON, mode 0600, in a 0700 directory) with named profiles, read
 * through `conf`. Settings resolve env > file > default (flags are applied by the commands on
 * top); tokens resolve env > file and are returned as Secret so they never print.
 */
export class Config {
  readonly path: string;
  readonly profile: string;
  readonly env: NodeJS.ProcessEnv;
  readonly #store: ConfStore;

  private constructor(path: string, profile: string, env: NodeJS.ProcessEnv, store: ConfStore) {
    this.path = path;
    this.profile = profile;
    this.env = env;
    this.#store = store;
  }

  /** Opens (never rewrites) the config file; a corrupt or unreadable file is a ConfigError. */
  static async open(options: { path?: string | undefined; profile?: string | undefined; env: NodeJS.ProcessEnv; mustExist?: boolean }): Promise<Config> {
    const env = options.env;
    const path = resolve(options.path || env.AUTOMNA_CONFIG || defaultConfigPath(env));
    const profile = profileName(options.profile, env);
    if (!PROFILE_RE.test(profile)) {
      throw new UsageError(`invalid profile name "${profile}"`, { hint: "profile names match ^[a-z0-9][a-z0-9_-]{0,40}$" });
    }
    const isDefault = !options.path && !env.AUTOMNA_CONFIG;
    prepareLocation(path, isDefault);
    // The file itself is checked (conf would copy an array's items into keys "0", "1"...).
    const root = fileRoot(path);
    if (typeof root !== "object" || root === null || Array.isArray(root)) {
      throw new ConfigError(`config file ${path} is not a JSON object (it holds ${Array.isArray(root) ? "an array" : typeof root})`, {
        hint: 'it should look like {"profiles": {"default": {...}}}; fix or move the file: automna will not overwrite it',
      });
    }
    const store = new FileStore(path, root as Record<string, unknown>);
    const profiles = store.get("profiles");
    if (profiles !== undefined && (typeof profiles !== "object" || profiles === null || Array.isArray(profiles))) {
      throw new ConfigError(`config file ${path} has an invalid "profiles" entry`, { hint: "fix or move the file; automna will not overwrite it" });
    }
    const config = new Config(path, profile, env, store);
    // A named profile the file does not have is a typo (`--profile sandbx`), not an empty one.
    if (options.mustExist && profile !== "default" && !config.profiles().includes(profile)) {
      const known = config.profiles();
      const near = closest(profile, known, 1);
      throw new UsageError(`unknown profile "${profile}"${near.length ? ` (did you mean ${near[0]}?)` : ""}`, {
        hint: `profiles in ${path}: ${known.join(", ") || "none yet"}; create one with automna --profile ${profile} init (or automna --profile ${profile} config profile create)`,
      });
    }
    return config;
  }

  /** Makes this profile exist in the file (empty), so commands accept it. */
  createProfile(): boolean {
    if (this.profiles().includes(this.profile)) return false;
    this.#store.set(`profiles.${this.profile}`, {});
    return true;
  }

  #profileKey(key: string): string {
    return `profiles.${this.profile}.${key}`;
  }

  /** The raw value stored in this profile of the file. */
  fileValue(key: string): ConfigValue | undefined {
    return this.#store.get(this.#profileKey(key)) as ConfigValue | undefined;
  }

  #envValue(spec: ConfigKey): string | undefined {
    if (!spec.env) return undefined;
    const value = this.env[spec.env];
    return value === undefined || value === "" ? undefined : value;
  }

  /** Where the effective value of a key comes from. */
  source(key: string): ValueSource {
    const spec = requireKey(key);
    if (this.#envValue(spec) !== undefined) return "env";
    if (this.fileValue(key) !== undefined) return "file";
    if (spec.default !== undefined) return "default";
    return "unset";
  }

  /** The effective value of a setting: env > file > default. Secrets: use secret(). */
  get(key: string): ConfigValue | undefined {
    const spec = requireKey(key);
    const fromEnv = this.#envValue(spec);
    if (fromEnv !== undefined) return parseValue(spec, fromEnv, spec.env!);
    return this.fileValue(key) ?? spec.default;
  }

  getString(key: string): string | undefined {
    const value = this.get(key);
    return value === undefined ? undefined : Array.isArray(value) ? value.join(",") : String(value);
  }

  getNumber(key: string): number | undefined {
    const value = this.get(key);
    return value === undefined ? undefined : Number(value);
  }

  getList(key: string): string[] {
    const value = this.get(key);
    if (value === undefined) return [];
    return Array.isArray(value) ? value : String(value).split(",").map((s) => s.trim()).filter(Boolean);
  }

  /** A token or other secret: env > file. Never from a flag. */
  secret(key: string): Secret | undefined {
    const spec = requireKey(key);
    const value = this.#envValue(spec) ?? this.fileValue(key);
    return value === undefined || value === "" ? undefined : new Secret(String(value));
  }

  /** Validates and writes one key of this profile. */
  set(key: string, raw: string): ConfigValue {
    const spec = requireKey(key);
    const value = parseValue(spec, raw, `value for ${key}`);
    this.#store.set(this.#profileKey(key), value);
    return value;
  }

  /**
   * Writes several already-typed values at once (init, sandbox up): all are validated first, then
   * the file is written once, so a bad value leaves it untouched.
   */
  setMany(values: Record<string, ConfigValue>): void {
    const entries: Record<string, ConfigValue> = {};
    for (const [key, value] of Object.entries(values)) {
      const spec = requireKey(key);
      entries[this.#profileKey(key)] = parseValue(spec, Array.isArray(value) ? value.join(",") : String(value), `value for ${key}`);
    }
    if (Object.keys(entries).length > 0) this.#store.set(entries);
  }

  unset(key: string): boolean {
    requireKey(key);
    const had = this.fileValue(key) !== undefined;
    if (had) this.#store.delete(this.#profileKey(key));
    return had;
  }

  /** Keys in this profile of the file that automna does not know (typos, or a newer automna's). */
  unknownKeys(): string[] {
    const found: string[] = [];
    const walk = (value: unknown, prefix: string): void => {
      if (prefix && (findConfigKey(prefix) || typeof value !== "object" || value === null || Array.isArray(value))) {
        if (!findConfigKey(prefix)) found.push(prefix);
        return;
      }
      for (const [k, v] of Object.entries(value as Record<string, unknown>)) walk(v, prefix ? `${prefix}.${k}` : k);
    };
    const profile: unknown = this.#store.get(`profiles.${this.profile}`);
    if (profile && typeof profile === "object") walk(profile, "");
    return found;
  }

  /** Profiles present in the file. */
  profiles(): string[] {
    const profiles = this.#store.get("profiles");
    return profiles && typeof profiles === "object" ? Object.keys(profiles) : [];
  }

  /** Every key with its effective value and source; secrets masked. */
  list(includeUnset = false): ConfigEntry[] {
    return CONFIG_KEYS.map((spec) => {
      const source = this.source(spec.key);
      const value = spec.secret ? (source === "unset" ? null : "***") : (this.get(spec.key) ?? null);
      return { key: spec.key, value, source, secret: spec.secret === true, env: spec.env ?? null, description: spec.description };
    }).filter((e) => includeUnset || e.source !== "unset");
  }
}

/**
 * The file as read once at open; conf (which loads a JSON-schema validator: a tenth of a
 * command's start-up CPU) only when something is written, and from then on everything through it.
 */
class FileStore implements ConfStore {
  readonly path: string;
  readonly #root: Record<string, unknown>;
  #conf: ConfStore | undefined;

  constructor(path: string, root: Record<string, unknown>) {
    this.path = path;
    this.#root = root;
  }

  get store(): Record<string, unknown> {
    return this.#conf?.store ?? this.#root;
  }

  get(key: string): unknown {
    if (this.#conf) return this.#conf.get(key);
    let value: unknown = this.#root;
    for (const part of key.split(".")) {
      if (typeof value !== "object" || value === null || !Object.hasOwn(value, part)) return undefined;
      value = (value as Record<string, unknown>)[part];
    }
    return value;
  }

  set(key: string | Record<string, unknown>, value?: unknown): void {
    const conf = this.#writer();
    if (typeof key === "string") conf.set(key, value);
    else conf.set(key);
  }

  delete(key: string): void {
    this.#writer().delete(key);
  }

  #writer(): ConfStore {
    if (this.#conf) return this.#conf;
    const path = this.path;
    const Conf = loadConf();
    try {
      this.#conf = new Conf({
        cwd: dirname(path),
        configName: basename(path, extname(path)),
        fileExtension: extname(path).slice(1) || "json",
        configFileMode: 0o600,
        clearInvalidConfig: false,
        watch: false,
      }) as unknown as ConfStore;
    } catch (error) {
      throw describeUnreadable(path, error);
    }
    return this.#conf;
  }
}

/**
 * conf, without the signal listeners its atomic writer installs. On import, atomically's
 * when-exit hooks SIGINT, SIGTERM, SIGHUP and a dozen more to delete the temporary files of
 * writes under way, then sends the same signal to the process again: one Ctrl-C arrived twice
 * at bin/'s handler, which stops at once on a second. conf writes synchronously, so no write
 * is ever under way when a signal is handled; the listeners go, and bin/ alone owns signals.
 * (when-exit's process-exit hook stays.) Loaded synchronously (require of an ES module) because
 * writes are synchronous.
 */
function loadConf(): typeof import("conf").default {
  const signals = (): string[] => process.eventNames().filter((e): e is string => typeof e === "string" && e.startsWith("SIG"));
  const before = new Map(signals().map((s) => [s, process.rawListeners(s)]));
  const { default: Conf } = createRequire(import.meta.url)("conf") as typeof import("conf");
  for (const signal of signals()) {
    const had = before.get(signal) ?? [];
    for (const listener of process.rawListeners(signal)) {
      if (!had.includes(listener)) process.removeListener(signal, listener as (...args: unknown[]) => void);
    }
  }
  return Conf;
}

/** The file's top-level JSON value ({} when there is no file yet). */
function fileRoot(path: string): unknown {
  try {
    const text = readFileSync(path, "utf8");
    return text.trim() === "" ? {} : (JSON.parse(text) as unknown);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === "ENOENT") return {};
    throw describeUnreadable(path, error);
  }
}

/** " (did you mean x?)" for a mistyped key, or nothing. */
export function closestKey(key: string): string {
  const near = closest(key, CONFIG_KEYS.map((k) => k.key), 1);
  return near.length ? ` (did you mean ${near[0]}?)` : "";
}

export function requireKey(key: string): ConfigKey {
  const spec = findConfigKey(key);
  if (!spec) {
    const near = closest(key, CONFIG_KEYS.map((k) => k.key));
    throw new UsageError(`unknown config key "${key}"`, {
      hint: near.length ? `did you mean ${near.join(" or ")}? (automna config list --all shows every key)` : "automna config list --all shows every key",
    });
  }
  return spec;
}

function parseValue(spec: ConfigKey, raw: string, origin: string): ConfigValue {
  switch (spec.type) {
    case "number": {
      const n = Number(raw);
      const r = spec.range;
      const what = r ? `${r.integer ? "a whole number" : "a number"} from ${r.min} to ${r.max}` : "a number";
      if (raw.trim() === "" || !Number.isFinite(n) || (r && (n < r.min || n > r.max || (r.integer && !Number.isInteger(n))))) {
        throw new UsageError(`${origin}: "${raw}" is not ${what}`);
      }
      return n;
    }
    case "boolean":
      if (!/^(true|false|1|0|yes|no)$/i.test(raw)) throw new UsageError(`${origin}: "${raw}" is not true or false`);
      return /^(true|1|yes)$/i.test(raw);
    case "list":
      return raw.split(",").map((s) => s.trim()).filter(Boolean);
    case "string":
      if (spec.choices && !spec.choices.includes(raw)) {
        throw new UsageError(`${origin}: "${raw}" is not one of ${spec.choices.join(", ")}`);
      }
      if (spec.format === "duration" && !/^(\d+(\.\d+)?(ms|s|m|h|d|w))+$/.test(raw)) {
        throw new UsageError(`${origin}: "${raw}" is not a duration`, { hint: "e.g. 90s, 10m, 2h or 3d" });
      }
      if (spec.format === "url" && !/^https?:\/\/[^\s/]+/.test(raw)) {
        throw new UsageError(`${origin}: "${raw}" is not an http:// or https:// URL`);
      }
      return raw;
  }
}

/** Creates the directory 0700 and tightens an existing file that is readable by others. */
function prepareLocation(path: string, ownDirectory: boolean): void {
  const dir = dirname(path);
  try {
    mkdirSync(dir, { recursive: true, mode: 0o700 });
    if (ownDirectory) chmodSync(dir, 0o700);
  } catch (error) {
    throw new ConfigError(`cannot create config directory ${dir}: ${(error as Error).message}`);
  }
  let mode: number;
  try {
    mode = statSync(path).mode;
  } catch {
    return; // not there yet: conf creates it 0600
  }
  // Read once ourselves so an unreadable file is reported by name before conf touches it.
  try {
    readFileSync(path);
  } catch (error) {
    throw describeUnreadable(path, error);
  }
  if ((mode & 0o077) !== 0) chmodSync(path, 0o600);
}

function describeUnreadable(path: string, error: unknown): ConfigError {
  const err = error as NodeJS.ErrnoException;
  if (err.code === "EACCES" || err.code === "EPERM") {
    return new ConfigError(`cannot read config file ${path}: permission denied`, { hint: "check its owner and mode (automna wants 0600 owned by you)" });
  }
  if (err.code === "EISDIR") return new ConfigError(`config path ${path} is a directory`, { hint: "pass a file path to --config" });
  return new ConfigError(`config file ${path} is not valid JSON: ${err.message.split("\n")[0]}`, {
    hint: "fix or move the file; automna will not overwrite it",
  });
}
