/**
 * Forward-only schema migrations for the embedded store, tracked in PRAGMA user_version.
 * Append a new entry to change the schema; never edit an applied one. A database whose version
 * is newer than the last entry here was written by a newer automna and is refused untouched.
 */
export const MIGRATIONS: readonly string[] = [
  // 1: the initial schema
  `
  CREATE TABLE instances (
    id TEXT PRIMARY KEY,
    user TEXT NOT NULL,
    role TEXT NOT NULL,
    provider TEXT NOT NULL,
    region TEXT NOT NULL,
    size TEXT NOT NULL,
    image TEXT NOT NULL,
    resources TEXT NOT NULL,
    addresses TEXT NOT NULL,
    status TEXT NOT NULL,
    op_id TEXT,
    meta TEXT NOT NULL,
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL,
    version INTEGER NOT NULL
  );
  CREATE UNIQUE INDEX instances_user_active_role ON instances(user, role) WHERE role IN ('live', 'target');
  CREATE INDEX instances_user ON instances(user);
  CREATE INDEX instances_provider ON instances(provider);

  CREATE TABLE usage (
    id TEXT PRIMARY KEY,
    user TEXT NOT NULL,
    instance_id TEXT,
    provider TEXT NOT NULL,
    size TEXT NOT NULL,
    region TEXT NOT NULL,
    kind TEXT NOT NULL,
    quantity REAL NOT NULL,
    hourly_price REAL NOT NULL,
    monthly_price REAL,
    currency TEXT NOT NULL,
    start TEXT NOT NULL,
    end TEXT
  );
  CREATE INDEX usage_user ON usage(user);
  CREATE INDEX usage_instance ON usage(instance_id);
  CREATE INDEX usage_start ON usage(start);

  CREATE TABLE operations (
    id TEXT PRIMARY KEY,
    kind TEXT NOT NULL,
    user TEXT NOT NULL,
    status TEXT NOT NULL,
    step TEXT,
    params TEXT NOT NULL,
    data TEXT NOT NULL,
    error TEXT,
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL,
    version INTEGER NOT NULL
  );
  CREATE INDEX operations_user ON operations(user, status);

  CREATE TABLE journal (
    op_id TEXT NOT NULL REFERENCES operations(id),
    seq INTEGER NOT NULL,
    step TEXT NOT NULL,
    phase TEXT NOT NULL,
    data TEXT NOT NULL,
    at TEXT NOT NULL,
    PRIMARY KEY (op_id, seq)
  );

  CREATE TABLE leases (
    user TEXT PRIMARY KEY,
    lease_id TEXT,
    holder TEXT,
    acquired_at TEXT,
    heartbeat_at TEXT,
    expires_at TEXT,
    fence INTEGER NOT NULL
  );

  CREATE TABLE audit (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    at TEXT NOT NULL,
    who TEXT NOT NULL,
    action TEXT NOT NULL,
    target TEXT NOT NULL,
    request_id TEXT,
    details TEXT NOT NULL
  );
  CREATE INDEX audit_at ON audit(at);
  CREATE TRIGGER audit_no_update BEFORE UPDATE ON audit BEGIN SELECT RAISE(ABORT, 'the audit log is append-only'); END;
  CREATE TRIGGER audit_no_delete BEFORE DELETE ON audit BEGIN SELECT RAISE(ABORT, 'the audit log is append-only'); END;
  `,
  // 2: bearer tokens of `automna state serve` (only hashes are stored)
  `
  CREATE TABLE tokens (
    id TEXT PRIMARY KEY,
    operator TEXT NOT NULL,
    scope TEXT NOT NULL,
    hash TEXT NOT NULL,
    created_at TEXT NOT NULL,
    created_by TEXT,
    last_used_at TEXT,
    revoked_at TEXT
  );
  CREATE INDEX audit_who ON audit(who, id);
  CREATE INDEX audit_target ON audit(target, id);
  `,
  // 3: cost reports read every interval in (user, start) order; without this index SQLite sorts
  // the whole table in a temporary B-tree (1.2 s for 127,600 intervals, 0.2 s with it).
  `
  CREATE INDEX usage_user_start ON usage(user, start);
  `,
  // 4: idempotency records of the state server (src/state/idempotency.ts): the response of a keyed
  // mutation, per operator and key, written in the mutation's own transaction.
  `
  CREATE TABLE idempotency (
    operator TEXT NOT NULL,
    idem_key TEXT NOT NULL,
    fingerprint TEXT NOT NULL,
    status INTEGER,
    body TEXT,
    created_at TEXT NOT NULL,
    PRIMARY KEY (operator, idem_key)
  );
  CREATE INDEX idempotency_created ON idempotency(created_at);
  `,
  // 5: user labels (plan=pro, cohort=beta), one JSON object per labelled user; selectors read them all.
  `
  CREATE TABLE labels (
    user TEXT PRIMARY KEY,
    labels TEXT NOT NULL,
    updated_at TEXT NOT NULL
  );
  `,
];

export const SCHEMA_VERSION = MIGRATIONS.length;
