import type { Pool, PoolClient } from "pg";
import { AutomnaError, ConflictError } from "../lib/errors.js";
import { Secret } from "../lib/redact.js";
import { describePgUrl } from "./backend.js";
import { migratePg } from "./pg-schema.js";
import type { AuditStamp } from "./rules.js";
import { POSTGRES } from "./sql-dialect.js";
import { runAsync, type Answer, type Cell, type Query, type Steps } from "./sql-steps.js";
import { SqlStore } from "./sql-store.js";

export interface PgStoreOptions {
  now?: () => Date;
  /** Connections in the pool. */
  max?: number;
}

/** Deadlocks and serialisation failures: the transaction is run again from the start. */
const RETRYABLE = new Set(["40001", "40P01"]);

function pgCode(error: unknown): string | undefined {
  return (error as { code?: string }).code;
}

const NOTHING: Answer = { rows: [], changes: 0 };

/**
 * One query on a pooled connection. Per-user advisory locks (transaction-scoped) serialise lease
 * changes against writes under the lease across every server process on the database.
 */
async function answer(client: Pool | PoolClient, q: Query): Promise<Answer> {
  if (q.kind === "lock") {
    await client.query(`SELECT pg_advisory_xact_lock${q.exclusive ? "" : "_shared"}(hashtextextended($1, 0))`, [`automna.user:${q.user}`]);
    return NOTHING;
  }
  const res = await client.query<Cell[]>({ text: POSTGRES.sql(q.sql), values: q.params as unknown[], rowMode: "array" });
  return { rows: res.rows, changes: res.rowCount ?? 0 };
}

/**
 * The state store on PostgreSQL, for teams running several `automna state serve` replicas on one
 * database. The rules are sql-store.ts's, enforced inside the database (row locks, advisory locks,
 * unique indexes, conditional updates), never in one process's memory.
 */
export class PgStore extends SqlStore {
  readonly kind = "postgres";
  readonly #pool: Pool;
  readonly #now: () => Date;

  private constructor(location: string, pool: Pool, now: () => Date, stamp?: AuditStamp) {
    super(location, POSTGRES, stamp);
    this.#pool = pool;
    this.#now = now;
  }

  static async open(url: string, options: PgStoreOptions = {}): Promise<PgStore> {
    const location = describePgUrl(url);
    try {
      const password = new URL(url).password;
      if (password) new Secret(decodeURIComponent(password));
    } catch {
      throw new AutomnaError(`invalid PostgreSQL URL ${location}`, { code: "usage", exitCode: 2 });
    }
    const { default: pg } = await import("pg");
    const pool = new pg.Pool({ connectionString: url, max: options.max ?? 10, application_name: "automna" });
    // An idle connection dropped by the server must not crash the process; the next query reconnects.
    pool.on("error", () => undefined);
    const store = new PgStore(location, pool, options.now ?? (() => new Date()));
    try {
      const client = await store.#connect();
      try {
        await migratePg(client, location);
      } finally {
        client.release();
      }
    } catch (error) {
      await pool.end().catch(() => undefined);
      throw error;
    }
    return store;
  }

  audited(stamp: AuditStamp): PgStore {
    return new PgStore(this.location, this.#pool, this.#now, stamp);
  }

  async #connect(): Promise<PoolClient> {
    try {
      return await this.#pool.connect();
    } catch (error) {
      throw this.#wrap(error);
    }
  }

  #wrap(error: unknown): unknown {
    if (error instanceof AutomnaError) return error;
    const code = pgCode(error);
    if (code === "23505") return new ConflictError(`conflicting write: ${(error as Error).message}`);
    if (code && /^(ECONN|ENOTFOUND|ETIMEDOUT|EHOSTUNREACH|57P)/.test(code)) {
      return new AutomnaError(`cannot reach PostgreSQL at ${this.location}: ${(error as Error).message}`, { code: "state_unreachable", cause: error });
    }
    return error;
  }

  protected async transaction<T>(make: (now: Date) => Steps<T>): Promise<T> {
    for (let attempt = 1; ; attempt++) {
      const client = await this.#connect();
      let broken = false;
      try {
        await client.query("BEGIN");
        const result = await runAsync(make(this.#now()), (q) => answer(client, q));
        await client.query("COMMIT");
        return result;
      } catch (error) {
        await client.query("ROLLBACK").catch(() => (broken = true));
        if (RETRYABLE.has(pgCode(error) ?? "") && attempt < 5) continue;
        throw this.#wrap(error);
      } finally {
        client.release(broken);
      }
    }
  }

  protected async read<T>(make: (now: Date) => Steps<T>): Promise<T> {
    try {
      return await runAsync(make(this.#now()), (q) => answer(this.#pool, q));
    } catch (error) {
      throw this.#wrap(error);
    }
  }

  /** Ends the pool; a no-op on audited views (they share it). */
  async close(): Promise<void> {
    if (this.stamp) return;
    await this.#pool.end();
  }
}
