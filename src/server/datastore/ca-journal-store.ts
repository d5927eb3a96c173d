import type { Database } from "better-sqlite3";
import type { CaSlot } from "./types.js";

/** Records which CA certificate is in which key slot, so a restart can pick the same CA up again. */
export interface CaJournalStore {
  list(): CaSlot[];
  put(slot: CaSlot): void;
}

/** Creates the CA journal store on an open database. */
export function createCaJournalStore(db: Database): CaJournalStore {
  const selectAll = db.prepare("SELECT slot, certificate, status FROM ca_journal ORDER BY slot");
  const upsert = db.prepare(
    "INSERT INTO ca_journal (slot, certificate, status) VALUES (?, ?, ?) " +
      "ON CONFLICT (slot) DO UPDATE SET certificate = excluded.certificate, status = excluded.status",
  );

  return {
    list: () => selectAll.all() as CaSlot[],
    put: (slot) => {
      upsert.run(slot.slot, slot.certificate, slot.status);
    },
  };
}
