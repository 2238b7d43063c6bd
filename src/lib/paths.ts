import { homedir } from "node:os";
import { join } from "node:path";

/** XDG base directories (Linux/macOS CLIs conventionally follow them too). */
export function configHome(env: NodeJS.ProcessEnv): string {
  return env.XDG_CONFIG_HOME || join(env.HOME || homedir(), ".config");
}

export function dataHome(env: NodeJS.ProcessEnv): string {
  return env.XDG_DATA_HOME || join(env.HOME || homedir(), ".local", "share");
}

export function defaultConfigPath(env: NodeJS.ProcessEnv): string {
  return join(configHome(env), "automna", "config.json");
}

/** The profile a command runs as when no flag names one: AUTOMNA_PROFILE, else `default`. */
export function profileName(flag: string | undefined, env: NodeJS.ProcessEnv): string {
  return flag || env.AUTOMNA_PROFILE || "default";
}

/**
 * Where a profile keeps its own data (state database, refreshed prices): the `default` profile in
 * automna's data directory as always, every other profile in `profiles/<name>` beneath it, so a
 * sandbox or staging profile never shares a fleet or a price file with the real one.
 */
export function profileDataDir(env: NodeJS.ProcessEnv, profile: string): string {
  return profile === "default" ? automnaDataDir(env) : join(automnaDataDir(env), "profiles", profile);
}

export function defaultStatePath(env: NodeJS.ProcessEnv, profile = "default"): string {
  return join(profileDataDir(env, profile), "state.db");
}

export function automnaDataDir(env: NodeJS.ProcessEnv): string {
  return join(dataHome(env), "automna");
}
