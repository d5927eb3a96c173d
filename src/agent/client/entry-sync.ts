import type { Logger } from "../../common/log.js";
import type { entryv1, types } from "../../proto/index.js";
import type { CachedEntry } from "../cache/cache-types.js";
import { ENTRY_OUTPUT_MASK, entryFromProto } from "./entry-convert.js";

/** The two directions of a SyncAuthorizedEntries stream, as the sync protocol uses them. */
export interface EntrySyncStream {
  send(request: entryv1.SyncAuthorizedEntriesRequest): void;
  receive(): Promise<entryv1.SyncAuthorizedEntriesResponse__Output>;
}

/** Counts from one entry sync, named as SPIRE's sync statistics. */
export interface EntrySyncStats {
  total: number;
  /** Entries new to the agent. */
  missing: number;
  /** Entries whose revision (or creation time) changed. */
  stale: number;
  dropped: number;
  /** Pages of entry revisions received; 0 when the server sent the whole list at once. */
  revisionPages: number;
}

/** The result of one sync: the complete set of entries the agent is authorized for. */
export interface EntrySyncResult {
  entries: Map<string, CachedEntry>;
  stats: EntrySyncStats;
}

/**
 * Runs the agent side of SyncAuthorizedEntries and returns the agent's new entry set.
 *
 * The first request carries only the output mask. When the server responds with full
 * entries, that list is the whole set. When it responds with pages of revisions (more
 * entries than its page size), every ID that is not cached, or is cached with another
 * revision number or another creation time (an entry deleted and recreated under the same
 * ID), is requested by ID in sorted batches of the first page's size, and the full entries
 * are read until `more` is false. Cached entries the server no longer lists are dropped.
 *
 * `cached` is not modified. Malformed entries and revisions are skipped with a warning.
 * Throws on a protocol violation (revisions while entries were expected, or the reverse)
 * or when the stream fails; the caller ends the stream afterwards.
 */
export async function syncAuthorizedEntries(
  stream: EntrySyncStream,
  cached: ReadonlyMap<string, CachedEntry>,
  logger: Logger,
): Promise<EntrySyncResult> {
  const entries = new Map<string, CachedEntry>();
  const stats: EntrySyncStats = { total: 0, missing: 0, stale: 0, dropped: 0, revisionPages: 0 };

  const acceptEntries = (received: types.Entry__Output[]): void => {
    for (const protoEntry of received) {
      const entry = convertOrWarn(protoEntry, logger);
      if (entry === undefined) {
        continue;
      }

      const previous = cached.get(entry.id);
      if (previous === undefined) {
        stats.missing++;
      } else if (isStale(previous, entry.revisionNumber, entry.createdAt)) {
        stats.stale++;
      }
      entries.set(entry.id, entry);
    }
  };

  stream.send({ output_mask: ENTRY_OUTPUT_MASK });
  let response = await stream.receive();

  if (response.entry_revisions.length === 0) {
    acceptEntries(response.entries);
    return finish(entries, cached, stats);
  }

  const pageSize = response.entry_revisions.length;
  const needFull: string[] = [];
  const acceptRevisions = (revisions: entryv1.EntryRevision__Output[]): void => {
    stats.revisionPages++;
    for (const revision of revisions) {
      if (revision.id === "" || revision.revision_number < 0) {
        logger.warn({ entry_id: revision.id, revision_number: revision.revision_number }, "Received malformed entry revision from the server");
        continue;
      }

      const previous = cached.get(revision.id);
      if (previous === undefined || isStale(previous, revision.revision_number, revision.created_at)) {
        needFull.push(revision.id);
      } else {
        entries.set(revision.id, previous);
      }
    }
  };

  acceptRevisions(response.entry_revisions);
  while (response.more) {
    response = await stream.receive();
    if (response.entries.length > 0) {
      throw new Error("the server sent entries while the agent was receiving entry revisions");
    }
    acceptRevisions(response.entry_revisions);
  }

  needFull.sort();
  for (let start = 0; start < needFull.length; start += pageSize) {
    stream.send({ ids: needFull.slice(start, start + pageSize) });
    do {
      response = await stream.receive();
      if (response.entry_revisions.length > 0) {
        throw new Error("the server sent entry revisions while the agent was requesting entries");
      }
      acceptEntries(response.entries);
    } while (response.more);
  }

  return finish(entries, cached, stats);
}

/**
 * Tells whether a cached entry differs from the server's revision. A creation time of 0
 * means the server did not send one (older servers), so only the revision counts then.
 */
export function isStale(cached: CachedEntry, revisionNumber: number, createdAt: number): boolean {
  if (cached.revisionNumber !== revisionNumber) {
    return true;
  }
  return createdAt !== 0 && cached.createdAt !== createdAt;
}

function finish(entries: Map<string, CachedEntry>, cached: ReadonlyMap<string, CachedEntry>, stats: EntrySyncStats): EntrySyncResult {
  for (const id of cached.keys()) {
    if (!entries.has(id)) {
      stats.dropped++;
    }
  }
  stats.total = entries.size;
  return { entries, stats };
}

function convertOrWarn(protoEntry: types.Entry__Output, logger: Logger): CachedEntry | undefined {
  try {
    return entryFromProto(protoEntry);
  } catch (error) {
    logger.warn(
      {
        entry_id: protoEntry.id,
        spiffe_id: protoEntry.spiffe_id === null ? "" : `spiffe://${protoEntry.spiffe_id.trust_domain}${protoEntry.spiffe_id.path}`,
        selectors: protoEntry.selectors.map((selector) => `${selector.type}:${selector.value}`),
        error: (error as Error).message,
      },
      "Received malformed entry from the server; skipping it",
    );
    return undefined;
  }
}
