import { UsageError } from "../lib/errors.js";
import type { Config } from "../lib/config.js";
import { defaultStatePath } from "../lib/paths.js";
import type { StateStore } from "./types.js";

export interface StateLocation {
  kind: "sqlite" | "http";
  /** File path or URL. */
  location: string;
}

/** Where state lives: --state > AUTOMNA_STATE > config state.url / state.path > the XDG default. */
export function resolveStateLocation(config: Config, flag: string | undefined): StateLocation {
  if (flag) return { kind: /^https?:\/\//.test(flag) ? "http" : "sqlite", location: flag };
  const url = config.getString("state.url");
  if (url) return { kind: "http", location: url };
  return { kind: "sqlite", location: config.getString("state.path") ?? defaultStatePath(config.env) };
}

export async function openStateStore(config: Config, flag: string | undefined, now?: () => Date): Promise<StateStore> {
  const where = resolveStateLocation(config, flag);
  if (where.kind === "http") {
    // The shared state client lands with `automna state serve`.
    throw new UsageError(`state URL ${where.location} is set, but this automna has no shared-state client yet`, { hint: "unset state.url to use the embedded store" });
  }
  const { SqliteStore } = await import("./sqlite-store.js");
  return SqliteStore.open(where.location, { busyTimeoutMs: config.getNumber("state.busyTimeoutMs") ?? 5000, ...(now ? { now } : {}) });
}
