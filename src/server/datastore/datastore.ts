import { mkdirSync } from "node:fs";
import { dirname } from "node:path";
import BetterSqlite3 from "better-sqlite3";
import type { Database } from "better-sqlite3";
import { applyMigrations } from "./schema.js";
import { createBundleStore } from "./bundle-store.js";
import type { BundleStore } from "./bundle-store.js";
import { createCaJournalStore } from "./ca-journal-store.js";
import type { CaJournalStore } from "./ca-journal-store.js";
import { createEntryStore } from "./entry-store.js";
import type { EntryStore } from "./entry-store.js";
import { createJwtKeyJournalStore } from "./jwt-key-journal-store.js";
import type { JwtKeyJournalStore } from "./jwt-key-journal-store.js";
import { createJoinTokenStore } from "./join-token-store.js";
import type { JoinTokenStore } from "./join-token-store.js";
import { createNodeStore } from "./node-store.js";
import type { NodeStore } from "./node-store.js";

/** The server's SQLite store, split by record kind. All calls are synchronous. */
export interface Datastore {
  entries: EntryStore;
  nodes: NodeStore;
  joinTokens: JoinTokenStore;
  bundles: BundleStore;
  caJournal: CaJournalStore;
  jwtKeyJournal: JwtKeyJournalStore;
  /** Runs `work` in one SQLite transaction; nested calls join the outer transaction. */
  transaction<T>(work: () => T): T;
  close(): void;
}

/**
 * Opens (creating if needed) the SQLite database at `path` in WAL mode and migrates its
 * schema. The parent folder is created with mode 0700, because the database contains join
 * tokens, which are credentials until used.
 */
export function openDatastore(path: string): Datastore {
  if (path !== ":memory:") {
    mkdirSync(dirname(path), { recursive: true, mode: 0o700 });
  }

  let db: Database;
  try {
    db = new BetterSqlite3(path);
  } catch (error) {
    throw new Error(`failed to open SQLite database ${JSON.stringify(path)}: ${(error as Error).message}`, {
      cause: error,
    });
  }

  db.pragma("journal_mode = WAL");
  db.pragma("foreign_keys = ON");
  // Wait for a concurrent writer (e.g. a second process on the same file) instead of failing.
  db.pragma("busy_timeout = 5000");
  applyMigrations(db);

  return {
    entries: createEntryStore(db),
    nodes: createNodeStore(db),
    joinTokens: createJoinTokenStore(db),
    bundles: createBundleStore(db),
    caJournal: createCaJournalStore(db),
    jwtKeyJournal: createJwtKeyJournalStore(db),
    transaction: (work) => db.transaction(work)(),
    close: () => db.close(),
  };
}
