import { chmodSync, closeSync, openSync, statSync } from "node:fs";
import { AutomnaError, ExitCode } from "../lib/errors.js";

/**
 * The files of an SQLite state database: the database and its -wal and -shm companions. They
 * hold every user, address and lease of the fleet (and on a state server the token hashes), so
 * they are the operator's alone: 0600, like the config file.
 */
const PRIVATE = 0o600;

/** Loosens nothing; takes group and other bits off a file that has them (when we own it). */
function tighten(file: string): void {
  try {
    if ((statSync(file).mode & 0o077) !== 0) chmodSync(file, PRIVATE);
  } catch {
    // Not there (yet), or someone else's file: SQLite reports what matters when it opens it.
  }
}

/**
 * Before SQLite opens `path`: creates the file 0600 when it is missing (SQLite gives the -wal and
 * -shm files it makes the database file's mode), and tightens an existing looser one. Contents are
 * never touched here.
 */
export function prepareDatabaseFile(path: string): void {
  try {
    closeSync(openSync(path, "a", PRIVATE));
  } catch {
    // A directory or an unwritable place: SQLite's own open names the problem.
    return;
  }
  tighten(path);
}

/** After the database is open in WAL mode: companions left looser by an older automna are tightened. */
export function tightenCompanions(path: string): void {
  tighten(`${path}-wal`);
  tighten(`${path}-shm`);
}

/** SQLITE_CORRUPT or SQLITE_NOTADB: the file is damaged or is not an SQLite database at all. */
export function isCorrupt(error: unknown): boolean {
  const code = (error as { errcode?: unknown }).errcode;
  return typeof code === "number" && ((code & 0xff) === 11 || (code & 0xff) === 26);
}

/** A damaged state database, named with what to do; automna never writes to it. */
export class StateCorruptError extends AutomnaError {
  constructor(path: string, cause: unknown) {
    const what = (cause as { errstr?: string }).errstr ?? (cause instanceof Error ? cause.message : String(cause));
    super(`state database ${path} is damaged or not an SQLite database (${what}); automna left it as it is`, {
      code: "state_corrupt",
      exitCode: ExitCode.USAGE,
      hint: `restore it from a backup, or move it aside to start empty (mv ${path} ${path}.damaged); sqlite3 ${path} .recover may save its rows`,
      cause,
    });
  }
}
