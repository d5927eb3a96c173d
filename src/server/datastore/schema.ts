import type { Database } from "better-sqlite3";

/** One schema change; versions start at 1 and only grow. Never edit an applied migration. */
interface Migration {
  version: number;
  description: string;
  sql: string;
}

const MIGRATIONS: readonly Migration[] = [
  {
    version: 1,
    description: "registration entries, attested nodes, join tokens, bundles and the CA journal",
    sql: `
      CREATE TABLE registered_entries (
        id              TEXT PRIMARY KEY,
        spiffe_id       TEXT NOT NULL,
        parent_id       TEXT NOT NULL,
        selectors       TEXT NOT NULL,
        x509_svid_ttl   INTEGER NOT NULL DEFAULT 0,
        jwt_svid_ttl    INTEGER NOT NULL DEFAULT 0,
        federates_with  TEXT NOT NULL DEFAULT '[]',
        admin           INTEGER NOT NULL DEFAULT 0,
        downstream      INTEGER NOT NULL DEFAULT 0,
        expires_at      INTEGER NOT NULL DEFAULT 0,
        dns_names       TEXT NOT NULL DEFAULT '[]',
        revision_number INTEGER NOT NULL DEFAULT 0,
        store_svid      INTEGER NOT NULL DEFAULT 0,
        hint            TEXT NOT NULL DEFAULT '',
        created_at      INTEGER NOT NULL
      );
      CREATE INDEX registered_entries_parent_id ON registered_entries (parent_id);
      CREATE INDEX registered_entries_spiffe_id ON registered_entries (spiffe_id);

      CREATE TABLE attested_nodes (
        spiffe_id              TEXT PRIMARY KEY,
        attestation_type       TEXT NOT NULL,
        cert_serial_number     TEXT NOT NULL,
        cert_not_after         INTEGER NOT NULL,
        new_cert_serial_number TEXT NOT NULL DEFAULT '',
        new_cert_not_after     INTEGER NOT NULL DEFAULT 0,
        can_reattest           INTEGER NOT NULL DEFAULT 0,
        agent_version          TEXT NOT NULL DEFAULT '',
        created_at             INTEGER NOT NULL
      );

      CREATE TABLE node_selectors (
        spiffe_id TEXT NOT NULL,
        type      TEXT NOT NULL,
        value     TEXT NOT NULL,
        PRIMARY KEY (spiffe_id, type, value)
      );

      CREATE TABLE join_tokens (
        token      TEXT PRIMARY KEY,
        expires_at INTEGER NOT NULL
      );

      CREATE TABLE bundles (
        trust_domain     TEXT PRIMARY KEY,
        x509_authorities TEXT NOT NULL,
        jwt_authorities  TEXT NOT NULL,
        refresh_hint     INTEGER NOT NULL DEFAULT 0,
        sequence_number  INTEGER NOT NULL DEFAULT 0
      );

      CREATE TABLE ca_journal (
        slot        TEXT PRIMARY KEY CHECK (slot IN ('A', 'B')),
        certificate BLOB NOT NULL,
        status      TEXT NOT NULL CHECK (status IN ('active', 'prepared', 'old'))
      );
    `,
  },
  {
    version: 2,
    description: "the JWT signing key journal",
    sql: `
      CREATE TABLE jwt_key_journal (
        slot       TEXT PRIMARY KEY CHECK (slot IN ('A', 'B')),
        key_id     TEXT NOT NULL,
        public_key BLOB NOT NULL,
        issued_at  INTEGER NOT NULL,
        not_after  INTEGER NOT NULL,
        status     TEXT NOT NULL CHECK (status IN ('active', 'prepared', 'old'))
      );
    `,
  },
];

/** The schema version this build of the server writes. */
export const CURRENT_SCHEMA_VERSION = MIGRATIONS.at(-1)?.version ?? 0;

/**
 * Brings the database schema up to {@link CURRENT_SCHEMA_VERSION}, one transaction per
 * migration, and records each in `schema_migrations`.
 *
 * Throws when the database was written by a newer server (a higher version than this build
 * knows), because running old code on a newer schema could corrupt data.
 */
export function applyMigrations(db: Database): void {
  db.exec(`
    CREATE TABLE IF NOT EXISTS schema_migrations (
      version    INTEGER PRIMARY KEY,
      applied_at INTEGER NOT NULL
    )
  `);

  const row = db.prepare("SELECT MAX(version) AS version FROM schema_migrations").get() as { version: number | null };
  const appliedVersion = row.version ?? 0;
  if (appliedVersion > CURRENT_SCHEMA_VERSION) {
    throw new Error(
      `database schema version ${appliedVersion} is newer than this server supports (${CURRENT_SCHEMA_VERSION}): ` +
        "upgrade tessera-server or use a copy of the database made by this version",
    );
  }

  const record = db.prepare("INSERT INTO schema_migrations (version, applied_at) VALUES (?, ?)");
  for (const migration of MIGRATIONS) {
    if (migration.version <= appliedVersion) continue;

    const apply = db.transaction(() => {
      db.exec(migration.sql);
      record.run(migration.version, Math.floor(Date.now() / 1000));
    });
    try {
      apply();
    } catch (error) {
      throw new Error(`failed to apply schema migration ${migration.version} (${migration.description})`, {
        cause: error,
      });
    }
  }
}
