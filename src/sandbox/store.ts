import { chmodSync, existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { processAlive } from "./daemon.js";
import { randomAlnum } from "./util.js";

/** The files of a sandbox directory besides the world. */
export const TOKEN_FILE = "token";
export const LOCK_FILE = "sandbox.lock";

export function prepareDir(dir: string): void {
  mkdirSync(dir, { recursive: true, mode: 0o700 });
}

/**
 * The token every provider accepts: the one given, else the one saved in the directory (so a
 * restarted sandbox keeps working with the profile `sandbox up` wrote), else a new random one.
 * Saved mode 0600; it never appears in the world file or the admin API.
 */
export function resolveToken(dir: string, given: string | undefined): string {
  const file = join(dir, TOKEN_FILE);
  if (given !== undefined) {
    if (given.length < 8 || /\s/.test(given)) throw new Error("token must be at least 8 characters without spaces");
    writeFileSync(file, given, { mode: 0o600 });
    chmodSync(file, 0o600);
    return given;
  }
  if (existsSync(file)) {
    const saved = readFileSync(file, "utf8").trim();
    if (saved) return saved;
  }
  const token = `sandbox_${randomAlnum(40, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789")}`;
  writeFileSync(file, token, { mode: 0o600 });
  chmodSync(file, 0o600);
  return token;
}

/** Reads the saved token of a sandbox directory (CLI `up --detach`, `status`). */
export function readToken(dir: string): string | null {
  const file = join(dir, TOKEN_FILE);
  return existsSync(file) ? readFileSync(file, "utf8").trim() || null : null;
}

const held = new Set<string>();

/** One sandbox per directory: a lock file naming the process; a stale one is taken over. */
export function acquireLock(dir: string): () => void {
  const file = join(dir, LOCK_FILE);
  if (held.has(dir)) throw new Error(`a sandbox is already running on ${dir} in this process`);
  if (existsSync(file)) {
    const pid = Number(readFileSync(file, "utf8").trim());
    if (Number.isInteger(pid) && pid > 0 && pid !== process.pid && processAlive(pid)) {
      throw new Error(`a sandbox is already running on ${dir} (pid ${pid}); stop it with "automna sandbox down"`);
    }
  }
  writeFileSync(file, String(process.pid), { mode: 0o600 });
  held.add(dir);
  let released = false;
  return () => {
    if (released) return;
    released = true;
    held.delete(dir);
    rmSync(file, { force: true });
  };
}
