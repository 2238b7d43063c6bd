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

export function defaultStatePath(env: NodeJS.ProcessEnv): string {
  return join(dataHome(env), "automna", "state.db");
}

export function automnaDataDir(env: NodeJS.ProcessEnv): string {
  return join(dataHome(env), "automna");
}
