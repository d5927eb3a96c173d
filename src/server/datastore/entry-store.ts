import { randomUUID } from "node:crypto";
import type { Database } from "better-sqlite3";
import { dedupeSelectors, selectorSetMatches, sortSelectors } from "../../spiffe/selector.js";
import type { Selector } from "../../spiffe/selector.js";
import type { EntryFilter, EntryUpdateMask, NewRegistrationEntry, RegistrationEntry } from "./types.js";

/** Raised when an update or delete names an entry that does not exist. */
export class EntryNotFoundError extends Error {
  override readonly name = "EntryNotFoundError";
}

/**
 * Raised when an entry would federate with a trust domain that has no bundle in the store,
 * because SPIRE, too, requires the bundle before any entry may federate with it.
 */
export class FederatedBundleNotFoundError extends Error {
  override readonly name = "FederatedBundleNotFoundError";
}

/** Raised when a new entry's ID is already taken by another entry. */
export class EntryIdTakenError extends Error {
  override readonly name = "EntryIdTakenError";
}

/** Registration entry storage; see {@link createEntryStore}. */
export interface EntryStore {
  /**
   * Creates the entry, or returns the existing "similar" entry (same SPIFFE ID, parent ID
   * and selector set) untouched with `existing: true`, as SPIRE's CreateOrReturn does.
   * Throws {@link FederatedBundleNotFoundError} when a `federatesWith` trust domain has no bundle.
   */
  createOrReturn(entry: NewRegistrationEntry, now?: Date): { entry: RegistrationEntry; existing: boolean };
  get(id: string): RegistrationEntry | undefined;
  list(filter?: EntryFilter): RegistrationEntry[];
  /** Lists entries whose parent ID is one of `parentIds`, in one query. */
  listByParentIds(parentIds: readonly string[]): RegistrationEntry[];
  /**
   * Replaces the masked fields (all fields without a mask) and increments the revision number.
   * Throws {@link FederatedBundleNotFoundError} like createOrReturn.
   */
  update(id: string, changes: NewRegistrationEntry, mask?: EntryUpdateMask): RegistrationEntry;
  /** Deletes and returns the entry; throws {@link EntryNotFoundError} when it does not exist. */
  delete(id: string): RegistrationEntry;
  count(): number;
}

interface EntryRow {
  id: string;
  spiffe_id: string;
  parent_id: string;
  selectors: string;
  x509_svid_ttl: number;
  jwt_svid_ttl: number;
  federates_with: string;
  admin: number;
  downstream: number;
  expires_at: number;
  dns_names: string;
  revision_number: number;
  store_svid: number;
  hint: string;
  created_at: number;
}

const COLUMNS =
  "id, spiffe_id, parent_id, selectors, x509_svid_ttl, jwt_svid_ttl, federates_with, admin, downstream, " +
  "expires_at, dns_names, revision_number, store_svid, hint, created_at";

/**
 * Creates the entry store on an open database. Selectors are stored as a sorted JSON array,
 * so "same selector set" is a string comparison in SQL; every other filter is applied in
 * JavaScript after the indexed spiffe_id / parent_id lookups.
 */
export function createEntryStore(db: Database): EntryStore {
  const insert = db.prepare(
    `INSERT INTO registered_entries (${COLUMNS}) VALUES ` +
      "(@id, @spiffe_id, @parent_id, @selectors, @x509_svid_ttl, @jwt_svid_ttl, @federates_with, @admin, " +
      "@downstream, @expires_at, @dns_names, @revision_number, @store_svid, @hint, @created_at)",
  );
  const selectById = db.prepare(`SELECT ${COLUMNS} FROM registered_entries WHERE id = ?`);
  const selectSimilar = db.prepare(
    `SELECT ${COLUMNS} FROM registered_entries WHERE spiffe_id = ? AND parent_id = ? AND selectors = ? LIMIT 1`,
  );
  const selectAll = db.prepare(`SELECT ${COLUMNS} FROM registered_entries ORDER BY created_at, id`);
  const selectBySpiffeId = db.prepare(`SELECT ${COLUMNS} FROM registered_entries WHERE spiffe_id = ? ORDER BY created_at, id`);
  const selectByParentId = db.prepare(`SELECT ${COLUMNS} FROM registered_entries WHERE parent_id = ? ORDER BY created_at, id`);
  const updateRow = db.prepare(
    "UPDATE registered_entries SET spiffe_id = @spiffe_id, parent_id = @parent_id, selectors = @selectors, " +
      "x509_svid_ttl = @x509_svid_ttl, jwt_svid_ttl = @jwt_svid_ttl, federates_with = @federates_with, " +
      "admin = @admin, downstream = @downstream, expires_at = @expires_at, dns_names = @dns_names, " +
      "revision_number = @revision_number, store_svid = @store_svid, hint = @hint WHERE id = @id",
  );
  const deleteById = db.prepare("DELETE FROM registered_entries WHERE id = ?");
  const countAll = db.prepare("SELECT COUNT(*) AS count FROM registered_entries");
  const selectBundle = db.prepare("SELECT 1 FROM bundles WHERE trust_domain = ?");

  function requireFederatedBundles(federatesWith: readonly string[]): void {
    for (const trustDomain of federatesWith) {
      if (selectBundle.get(trustDomain) === undefined) {
        throw new FederatedBundleNotFoundError(`unable to find federated bundle "spiffe://${trustDomain}"`);
      }
    }
  }

  const createOrReturn = db.transaction((entry: NewRegistrationEntry, now: Date) => {
    const normalized = normalizeEntry(entry);
    const similar = selectSimilar.get(normalized.spiffeId, normalized.parentId, JSON.stringify(normalized.selectors)) as
      | EntryRow
      | undefined;
    if (similar !== undefined) {
      return { entry: fromRow(similar), existing: true };
    }

    requireFederatedBundles(normalized.federatesWith);
    const id = entry.id === "" ? randomUUID() : entry.id;
    if (selectById.get(id) !== undefined) {
      throw new EntryIdTakenError(`failed to create entry: the entry ID ${JSON.stringify(id)} is already in use`);
    }

    const created: RegistrationEntry = {
      ...normalized,
      id,
      revisionNumber: 0,
      createdAt: Math.floor(now.getTime() / 1000),
    };
    insert.run(toRow(created));
    return { entry: created, existing: false };
  });

  const update = db.transaction((id: string, changes: NewRegistrationEntry, mask?: EntryUpdateMask) => {
    const row = selectById.get(id) as EntryRow | undefined;
    if (row === undefined) {
      throw new EntryNotFoundError(`failed to update entry ${JSON.stringify(id)}: entry not found`);
    }

    const current = fromRow(row);
    const normalized = normalizeEntry(changes);
    const merged: RegistrationEntry = { ...current };
    for (const field of Object.keys(normalized) as (keyof NewRegistrationEntry)[]) {
      if (field === "id") continue;
      if (mask === undefined || mask[field] === true) {
        (merged as unknown as Record<string, unknown>)[field] = normalized[field];
      }
    }
    merged.revisionNumber = current.revisionNumber + 1;
    requireFederatedBundles(merged.federatesWith);

    updateRow.run(toRow(merged));
    return merged;
  });

  const remove = db.transaction((id: string) => {
    const row = selectById.get(id) as EntryRow | undefined;
    if (row === undefined) {
      throw new EntryNotFoundError(`failed to delete entry ${JSON.stringify(id)}: entry not found`);
    }
    deleteById.run(id);
    return fromRow(row);
  });

  return {
    createOrReturn: (entry, now = new Date()) => createOrReturn(entry, now),

    get(id) {
      const row = selectById.get(id) as EntryRow | undefined;
      return row === undefined ? undefined : fromRow(row);
    },

    list(filter = {}) {
      let rows: EntryRow[];
      if (filter.bySpiffeId !== undefined) {
        rows = selectBySpiffeId.all(filter.bySpiffeId) as EntryRow[];
      } else if (filter.byParentId !== undefined) {
        rows = selectByParentId.all(filter.byParentId) as EntryRow[];
      } else {
        rows = selectAll.all() as EntryRow[];
      }
      return rows.map(fromRow).filter((entry) => matchesFilter(entry, filter));
    },

    listByParentIds(parentIds) {
      if (parentIds.length === 0) return [];

      // SQLite limits bound parameters per statement (32766 since 3.32); chunk well below it.
      const entries: RegistrationEntry[] = [];
      for (let start = 0; start < parentIds.length; start += 500) {
        const chunk = parentIds.slice(start, start + 500);
        const placeholders = chunk.map(() => "?").join(", ");
        const rows = db
          .prepare(`SELECT ${COLUMNS} FROM registered_entries WHERE parent_id IN (${placeholders})`)
          .all(...chunk) as EntryRow[];
        entries.push(...rows.map(fromRow));
      }
      return entries;
    },

    update: (id, changes, mask) => update(id, changes, mask),
    delete: (id) => remove(id),
    count: () => (countAll.get() as { count: number }).count,
  };
}

function normalizeEntry(entry: NewRegistrationEntry): NewRegistrationEntry {
  return { ...entry, selectors: canonicalSelectors(entry.selectors) };
}

function canonicalSelectors(selectors: readonly Selector[]): Selector[] {
  return sortSelectors(dedupeSelectors(selectors)).map(({ type, value }) => ({ type, value }));
}

function matchesFilter(entry: RegistrationEntry, filter: EntryFilter): boolean {
  if (filter.bySpiffeId !== undefined && entry.spiffeId !== filter.bySpiffeId) return false;
  if (filter.byParentId !== undefined && entry.parentId !== filter.byParentId) return false;
  if (filter.byHint !== undefined && entry.hint !== filter.byHint) return false;
  if (filter.bySelectors !== undefined) {
    const { selectors, match } = filter.bySelectors;
    if (!selectorSetMatches(entry.selectors, selectors, match)) return false;
  }
  return true;
}

function toRow(entry: RegistrationEntry): EntryRow {
  return {
    id: entry.id,
    spiffe_id: entry.spiffeId,
    parent_id: entry.parentId,
    selectors: JSON.stringify(entry.selectors),
    x509_svid_ttl: entry.x509SvidTtl,
    jwt_svid_ttl: entry.jwtSvidTtl,
    federates_with: JSON.stringify(entry.federatesWith),
    admin: entry.admin ? 1 : 0,
    downstream: entry.downstream ? 1 : 0,
    expires_at: entry.expiresAt,
    dns_names: JSON.stringify(entry.dnsNames),
    revision_number: entry.revisionNumber,
    store_svid: entry.storeSvid ? 1 : 0,
    hint: entry.hint,
    created_at: entry.createdAt,
  };
}

function fromRow(row: EntryRow): RegistrationEntry {
  return {
    id: row.id,
    spiffeId: row.spiffe_id,
    parentId: row.parent_id,
    selectors: JSON.parse(row.selectors) as Selector[],
    x509SvidTtl: row.x509_svid_ttl,
    jwtSvidTtl: row.jwt_svid_ttl,
    federatesWith: JSON.parse(row.federates_with) as string[],
    admin: row.admin === 1,
    downstream: row.downstream === 1,
    expiresAt: row.expires_at,
    dnsNames: JSON.parse(row.dns_names) as string[],
    revisionNumber: row.revision_number,
    storeSvid: row.store_svid === 1,
    hint: row.hint,
    createdAt: row.created_at,
  };
}
