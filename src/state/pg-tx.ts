import type { PoolClient } from "pg";
import { pgLease, type PgRow } from "./pg-rows.js";
import { assertLeaseAllows, type AuditAction, type AuditStamp } from "./rules.js";
import type { Lease, LeaseRef } from "./types.js";

export const RETRYABLE = new Set(["40001", "40P01"]);

export function pgCode(error: unknown): string | undefined {
  return (error as { code?: string }).code;
}

/** One transaction's queries, plus the audit row an audited view adds to each mutation. */
export class Tx {
  constructor(readonly client: PoolClient, readonly now: Date, readonly stamp: AuditStamp | undefined) {}
  async all(sql: string, params: unknown[] = []): Promise<PgRow[]> {
    return (await this.client.query<PgRow>(sql, params)).rows;
  }
  async get(sql: string, params: unknown[] = []): Promise<PgRow | undefined> {
    return (await this.all(sql, params))[0];
  }
  async run(sql: string, params: unknown[] = []): Promise<number> {
    return (await this.client.query(sql, params)).rowCount ?? 0;
  }
  get iso(): string {
    return this.now.toISOString();
  }
  /**
   * Per-user advisory locks serialise lease changes (exclusive) against writes under the lease
   * (shared) across every server process on the database: a lease cannot be broken or taken
   * between a writer's fencing check and its commit.
   */
  async lockUser(user: string, exclusive: boolean): Promise<void> {
    await this.client.query(`SELECT pg_advisory_xact_lock${exclusive ? "" : "_shared"}(hashtextextended($1, 0))`, [`automna.user:${user}`]);
  }
  async liveLease(user: string): Promise<Lease | undefined> {
    const row = await this.get("SELECT * FROM leases WHERE user_id = $1 AND lease_id IS NOT NULL AND expires_at > $2", [user, this.iso]);
    return row && pgLease(row);
  }
  async checkLease(user: string, lease: LeaseRef | undefined): Promise<void> {
    await this.lockUser(user, false);
    assertLeaseAllows(user, lease, await this.liveLease(user));
  }
  async audit(action: AuditAction, target: string, details: Record<string, unknown>): Promise<void> {
    if (!this.stamp) return;
    await this.run("INSERT INTO audit (at, who, action, target, request_id, details) VALUES ($1, $2, $3, $4, $5, $6)",
      [this.iso, this.stamp.who, action, target, this.stamp.requestId, details]);
  }
}

