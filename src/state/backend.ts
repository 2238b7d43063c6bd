import type { ServerBackend } from "./tokens.js";

export function isPostgresUrl(db: string): boolean {
  return /^postgres(ql)?:\/\//.test(db);
}

/** The URL without its password, for messages. */
export function describePgUrl(url: string): string {
  try {
    const u = new URL(url);
    if (u.password) u.password = "***";
    return u.toString();
  } catch {
    return "postgres://(unparseable URL)";
  }
}

/**
 * The database `automna state serve` and `state token` work on: a PostgreSQL URL or an SQLite
 * file. The server's SQLite runs with synchronous=FULL: an acknowledged write survives power
 * loss, not only a crash.
 */
export async function openBackend(db: string, options: { now?: () => Date; busyTimeoutMs?: number } = {}): Promise<ServerBackend> {
  if (isPostgresUrl(db)) {
    const { PgStore } = await import("./pg-store.js");
    return PgStore.open(db, options.now ? { now: options.now } : {});
  }
  const { SqliteStore } = await import("./sqlite-store.js");
  return SqliteStore.open(db, { synchronous: "FULL", busyTimeoutMs: options.busyTimeoutMs ?? 5000, ...(options.now ? { now: options.now } : {}) });
}
