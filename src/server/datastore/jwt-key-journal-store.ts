import type { Database } from "better-sqlite3";
import type { JwtKeySlot } from "./types.js";

/** Records which JWT signing key is in which slot, so a restart signs with the same key. */
export interface JwtKeyJournalStore {
  list(): JwtKeySlot[];
  put(slot: JwtKeySlot): void;
}

interface JwtKeyRow {
  slot: JwtKeySlot["slot"];
  key_id: string;
  public_key: Buffer;
  issued_at: number;
  not_after: number;
  status: JwtKeySlot["status"];
}

/** Creates the JWT key journal store on an open database. */
export function createJwtKeyJournalStore(db: Database): JwtKeyJournalStore {
  const selectAll = db.prepare("SELECT slot, key_id, public_key, issued_at, not_after, status FROM jwt_key_journal ORDER BY slot");
  const upsert = db.prepare(
    "INSERT INTO jwt_key_journal (slot, key_id, public_key, issued_at, not_after, status) " +
      "VALUES (@slot, @key_id, @public_key, @issued_at, @not_after, @status) " +
      "ON CONFLICT (slot) DO UPDATE SET key_id = excluded.key_id, public_key = excluded.public_key, " +
      "issued_at = excluded.issued_at, not_after = excluded.not_after, status = excluded.status",
  );

  return {
    list: () =>
      (selectAll.all() as JwtKeyRow[]).map((row) => ({
        slot: row.slot,
        keyId: row.key_id,
        publicKey: row.public_key,
        issuedAt: row.issued_at,
        notAfter: row.not_after,
        status: row.status,
      })),
    put: (slot) => {
      upsert.run({
        slot: slot.slot,
        key_id: slot.keyId,
        public_key: slot.publicKey,
        issued_at: slot.issuedAt,
        not_after: slot.notAfter,
        status: slot.status,
      });
    },
  };
}
