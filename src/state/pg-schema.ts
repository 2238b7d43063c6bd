import type { PoolClient } from "pg";
import { AutomnaError } from "../lib/errors.js";

/**
 * Forward-only schema migrations for the PostgreSQL store, tracked in `automna_schema`. Append
 * to change the schema; never edit an applied entry. Ids and user ids are COLLATE "C" so lists
 * sort exactly as in the embedded store (byte order), whatever the database's locale.
 */
export const PG_MIGRATIONS: readonly string[] = [
  // 1: the initial schema, matching the embedded store's schema version 2
  `
  CREATE TABLE instances (
    id text COLLATE "C" PRIMARY KEY,
    user_id text COLLATE "C" NOT NULL,
    role text NOT NULL,
    provider text NOT NULL,
    region text NOT NULL,
    size text NOT NULL,
    image text NOT NULL,
    resources jsonb NOT NULL,
    addresses jsonb NOT NULL,
    status text NOT NULL,
    op_id text,
    meta jsonb NOT NULL,
    created_at timestamptz NOT NULL,
    updated_at timestamptz NOT NULL,
    version integer NOT NULL
  );
  CREATE UNIQUE INDEX instances_user_active_role ON instances(user_id, role) WHERE role IN ('live', 'target');
  CREATE INDEX instances_provider ON instances(provider);

  CREATE TABLE usage (
    id text COLLATE "C" PRIMARY KEY,
    user_id text COLLATE "C" NOT NULL,
    instance_id text,
    provider text NOT NULL,
    size text NOT NULL,
    region text NOT NULL,
    kind text NOT NULL,
    quantity double precision NOT NULL,
    hourly_price double precision NOT NULL,
    monthly_price double precision,
    currency text NOT NULL,
    start_at timestamptz NOT NULL,
    end_at timestamptz
  );
  CREATE INDEX usage_user ON usage(user_id);
  CREATE INDEX usage_instance ON usage(instance_id);
  CREATE INDEX usage_start ON usage(start_at);

  CREATE TABLE operations (
    id text COLLATE "C" PRIMARY KEY,
    kind text NOT NULL,
    user_id text COLLATE "C" NOT NULL,
    status text NOT NULL,
    step text,
    params jsonb NOT NULL,
    data jsonb NOT NULL,
    error text,
    created_at timestamptz NOT NULL,
    updated_at timestamptz NOT NULL,
    version integer NOT NULL
  );
  CREATE INDEX operations_user ON operations(user_id, status);

  CREATE TABLE journal (
    op_id text NOT NULL REFERENCES operations(id),
    seq integer NOT NULL,
    step text NOT NULL,
    phase text NOT NULL,
    data jsonb NOT NULL,
    at timestamptz NOT NULL,
    PRIMARY KEY (op_id, seq)
  );

  CREATE TABLE leases (
    user_id text COLLATE "C" PRIMARY KEY,
    lease_id text,
    holder jsonb,
    acquired_at timestamptz,
    heartbeat_at timestamptz,
    expires_at timestamptz,
    fence integer NOT NULL
  );

  CREATE TABLE audit (
    id bigserial PRIMARY KEY,
    at timestamptz NOT NULL,
    who text NOT NULL,
    action text NOT NULL,
    target text NOT NULL,
    request_id text,
    details jsonb NOT NULL
  );
  CREATE INDEX audit_at ON audit(at);
  CREATE INDEX audit_who ON audit(who, id);
  CREATE INDEX audit_target ON audit(target, id);
  CREATE FUNCTION automna_audit_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN RAISE EXCEPTION 'the audit log is append-only'; END
  $$;
  CREATE TRIGGER audit_no_change BEFORE UPDATE OR DELETE ON audit FOR EACH ROW EXECUTE FUNCTION automna_audit_append_only();
  CREATE TRIGGER audit_no_truncate BEFORE TRUNCATE ON audit FOR EACH STATEMENT EXECUTE FUNCTION automna_audit_append_only();

  CREATE TABLE tokens (
    id text COLLATE "C" PRIMARY KEY,
    operator text NOT NULL,
    scope text NOT NULL,
    hash text NOT NULL,
    created_at timestamptz NOT NULL,
    created_by text,
    last_used_at timestamptz,
    revoked_at timestamptz
  );
  `,
  // 2: cost reports read every interval in (user, start) order (see the embedded schema's 3).
  `
  CREATE INDEX usage_user_start ON usage(user_id, start_at);
  `,
  // 3: idempotency records of the state server (see the embedded schema's 4). The body is text,
  // not jsonb: a replay answers the very bytes the first response had.
  `
  CREATE TABLE idempotency (
    operator text COLLATE "C" NOT NULL,
    idem_key text COLLATE "C" NOT NULL,
    fingerprint text NOT NULL,
    status integer,
    body text,
    created_at timestamptz NOT NULL,
    PRIMARY KEY (operator, idem_key)
  );
  CREATE INDEX idempotency_created ON idempotency(created_at);
  `,
  // 4: user labels (see the embedded schema's 5).
  `
  CREATE TABLE labels (
    user_id text COLLATE "C" PRIMARY KEY,
    labels jsonb NOT NULL,
    updated_at timestamptz NOT NULL
  );
  `,
];

export const PG_SCHEMA_VERSION = PG_MIGRATIONS.length;

/** Any fixed number: the advisory lock key that serialises migrations across server processes. */
const MIGRATION_LOCK = 0x6175746f;

export class PgSchemaTooNewError extends AutomnaError {
  constructor(location: string, found: number) {
    super(`state database ${location} has schema version ${found}, newer than this automna understands (${PG_SCHEMA_VERSION})`, {
      code: "schema_too_new",
      hint: "upgrade automna; the database was left untouched",
    });
  }
}

/**
 * Brings the schema up to date. Several servers may start at once on one database: the
 * transaction-scoped advisory lock lets one migrate while the others wait and then find nothing
 * to do.
 */
export async function migratePg(client: PoolClient, location: string): Promise<void> {
  const exists = await client.query<{ t: string | null }>("SELECT to_regclass('automna_schema')::text AS t");
  if (exists.rows[0]?.t) {
    const found = await client.query<{ version: number }>("SELECT version FROM automna_schema");
    const version = found.rows[0]?.version ?? 0;
    if (version > PG_SCHEMA_VERSION) throw new PgSchemaTooNewError(location, version);
    if (version === PG_SCHEMA_VERSION) return;
  }
  await client.query("BEGIN");
  try {
    await client.query("SELECT pg_advisory_xact_lock($1)", [MIGRATION_LOCK]);
    await client.query("CREATE TABLE IF NOT EXISTS automna_schema (version integer NOT NULL)");
    const found = await client.query<{ version: number }>("SELECT version FROM automna_schema");
    let version = found.rows[0]?.version ?? 0;
    if (found.rows.length === 0) await client.query("INSERT INTO automna_schema (version) VALUES (0)");
    if (version > PG_SCHEMA_VERSION) throw new PgSchemaTooNewError(location, version);
    for (; version < PG_SCHEMA_VERSION; version++) await client.query(PG_MIGRATIONS[version]!);
    await client.query("UPDATE automna_schema SET version = $1", [PG_SCHEMA_VERSION]);
    await client.query("COMMIT");
  } catch (error) {
    await client.query("ROLLBACK").catch(() => undefined);
    throw error;
  }
}
