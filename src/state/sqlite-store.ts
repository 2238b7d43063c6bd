import { mkdirSync } from "node:fs";
import { dirname } from "node:path";
import type { DatabaseSync, SQLInputValue, StatementSync } from "node:sqlite";
import { AutomnaError, LockedError } from "../lib/errors.js";
import { findDatabaseHolders } from "./db-holder.js";
import type { AuditStamp } from "./rules.js";
import { MIGRATIONS, SCHEMA_VERSION } from "./schema.js";
import { SQLITE } from "./sql-dialect.js";
import { isCorrupt, prepareDatabaseFile, StateCorruptError, tightenCompanions } from "./sqlite-file.js";
import { runSync, type Answer, type Cell, type Query, type Steps } from "./sql-steps.js";
import { SqlStore } from "./sql-store.js";

export interface SqliteStoreOptions {
  /** How long a write waits for another process's transaction, in ms. */
  busyTimeoutMs?: number;
  /** Injected clock (tests move time to expire leases). */
  now?: () => Date;
  /**
   * FULL makes every acknowledged commit survive power loss, not only a crash (the state server
   * uses it); NORMAL (default) is durable across process crashes and faster for the CLI.
   */
  synchronous?: "NORMAL" | "FULL";
  /** Audits every write as this operator (the CLI's embedded store), as a state server audits its clients'. */
  operator?: string;
}

/** A state database written by a newer automna: refused, never touched. */
export class SchemaTooNewError extends AutomnaError {
  constructor(path: string, found: number) {
    super(`state database ${path} has schema version ${found}, newer than this automna understands (${SCHEMA_VERSION})`, {
      code: "schema_too_new",
      hint: "upgrade automna; the database was left untouched",
    });
  }
}

function isBusy(error: unknown): boolean {
  const e = error as { errcode?: number; message?: string };
  return (e.errcode !== undefined && (e.errcode & 0xff) === 5) || /database is locked/i.test(e.message ?? "");
}

/** JSON columns are text in SQLite; everything else binds as it is. */
function bind(value: unknown): SQLInputValue {
  if (value === undefined || value === null) return null;
  if (typeof value === "object" && !ArrayBuffer.isView(value)) return JSON.stringify(value);
  if (typeof value === "boolean") return value ? 1 : 0;
  return value as SQLInputValue;
}

const NOTHING: Answer = { rows: [], changes: 0 };

/** What the SQLite store shares between itself and its audited views: one connection, its prepared statements. */
interface Connection {
  db: DatabaseSync;
  now: () => Date;
  statements: Map<string, StatementSync>;
}

/**
 * The embedded store on node:sqlite: WAL (readers never wait for a writer), BEGIN IMMEDIATE for
 * every write (no deadlocked upgrades), a busy timeout. The rules are sql-store.ts's; their steps
 * run synchronously inside the transaction, so no other request's statements can slip into it on
 * the shared connection.
 */
export class SqliteStore extends SqlStore {
  readonly kind = "sqlite";
  readonly #c: Connection;
  /** The store that opened the connection closes it; audited views share it. */
  readonly #owner: boolean;

  private constructor(location: string, c: Connection, stamp: AuditStamp | undefined, owner: boolean) {
    super(location, SQLITE, stamp);
    this.#c = c;
    this.#owner = owner;
  }

  audited(stamp: AuditStamp): SqliteStore {
    return new SqliteStore(this.location, this.#c, stamp, false);
  }

  static async open(path: string, options: SqliteStoreOptions = {}): Promise<SqliteStore> {
    const { DatabaseSync } = await import("node:sqlite");
    if (path !== ":memory:") {
      mkdirSync(dirname(path), { recursive: true, mode: 0o700 });
      prepareDatabaseFile(path);
    }
    const timeout = options.busyTimeoutMs ?? 5000;
    let db: DatabaseSync;
    try {
      db = new DatabaseSync(path, { timeout });
    } catch (error) {
      throw new AutomnaError(`cannot open state database ${path}: ${(error as Error).message}`, { code: "state_open" });
    }
    const stamp = options.operator === undefined ? undefined : { who: options.operator, requestId: null };
    const store = new SqliteStore(path, { db, now: options.now ?? (() => new Date()), statements: new Map() }, stamp, true);
    try {
      store.#migrate(options.synchronous ?? "NORMAL");
    } catch (error) {
      db.close();
      throw isCorrupt(error) ? new StateCorruptError(path, error) : error;
    }
    if (path !== ":memory:") tightenCompanions(path);
    return store;
  }

  #migrate(synchronous: "NORMAL" | "FULL"): void {
    const { db } = this.#c;
    const pragma = (name: string): unknown => (db.prepare(`PRAGMA ${name}`).get() as Record<string, unknown>)[name];
    const version = (): number => Number(pragma("user_version"));
    const found = version();
    // Checked before anything is written, WAL mode included.
    if (found > SCHEMA_VERSION) throw new SchemaTooNewError(this.location, found);
    if (this.location !== ":memory:" && pragma("journal_mode") !== "wal") {
      // Switching to WAL writes the header: a database not opened by automna before is checked first.
      const check = String(pragma("quick_check"));
      if (check !== "ok") throw new StateCorruptError(this.location, new Error(check));
      db.exec("PRAGMA journal_mode = WAL");
    }
    db.exec(`PRAGMA foreign_keys = ON; PRAGMA synchronous = ${synchronous}`);
    if (found === SCHEMA_VERSION) return;
    this.#inTransaction(() => {
      const current = version();
      if (current > SCHEMA_VERSION) throw new SchemaTooNewError(this.location, current);
      for (let v = current; v < SCHEMA_VERSION; v++) db.exec(MIGRATIONS[v]!);
      db.exec(`PRAGMA user_version = ${SCHEMA_VERSION}`);
    });
  }

  protected async transaction<T>(make: (now: Date) => Steps<T>): Promise<T> {
    return this.#inTransaction(() => runSync(make(this.#c.now()), (q) => this.#answer(q)));
  }

  protected async read<T>(make: (now: Date) => Steps<T>): Promise<T> {
    try {
      return runSync(make(this.#c.now()), (q) => this.#answer(q));
    } catch (error) {
      throw this.#named(error);
    }
  }

  /** Damage found while reading or writing names the file (SQLite's own message does not). */
  #named(error: unknown): unknown {
    return isCorrupt(error) ? new StateCorruptError(this.location, error) : error;
  }

  /** Runs fn in BEGIN IMMEDIATE ... COMMIT; a busy database becomes a LockedError naming who has it open. */
  #inTransaction<T>(fn: () => T): T {
    const { db } = this.#c;
    try {
      db.exec("BEGIN IMMEDIATE");
    } catch (error) {
      if (isBusy(error)) throw this.#busyError();
      throw error;
    }
    try {
      const result = fn();
      db.exec("COMMIT");
      return result;
    } catch (error) {
      try {
        db.exec("ROLLBACK");
      } catch {
        /* already rolled back by SQLite */
      }
      if (isBusy(error)) throw this.#busyError();
      throw this.#named(error);
    }
  }

  #busyError(): LockedError {
    const holders = findDatabaseHolders(this.location);
    const who = holders.length
      ? holders.map((h) => `pid ${h.pid}${h.command ? ` (${h.command.slice(0, 120)})` : ""}`).join(", ")
      : "another process";
    return new LockedError(`state database ${this.location} is locked by ${who}`, undefined, {
      code: "state_busy",
      hint: "wait for it to finish, or raise state.busyTimeoutMs",
    });
  }

  #answer(q: Query): Answer {
    if (q.kind === "lock") return NOTHING;
    const statement = this.#prepare(q.sql);
    const params = q.params.map(bind);
    if (q.kind === "run") return { rows: [], changes: Number(statement.run(...params).changes) };
    if (q.kind === "row") {
      const row = statement.get(...params) as unknown as Cell[] | undefined;
      return { rows: row ? [row] : [], changes: 0 };
    }
    return { rows: statement.all(...params) as unknown as Cell[][], changes: 0 };
  }

  /** Prepared once per SQL text (preparing costs more than most of these queries), returning rows as arrays. */
  #prepare(text: string): StatementSync {
    let statement = this.#c.statements.get(text);
    if (!statement) {
      statement = this.#c.db.prepare(SQLITE.sql(text));
      statement.setReturnArrays(true);
      this.#c.statements.set(text, statement);
    }
    return statement;
  }

  /** Closes the database; a no-op on audited views (they share the store's connection). */
  async close(): Promise<void> {
    if (!this.#owner) return;
    if (this.#c.db.isOpen) this.#c.db.close();
  }
}
