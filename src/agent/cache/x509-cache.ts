import type { Logger } from "../../common/log.js";
import type { Selector } from "../../spiffe/selector.js";
import type { IdentitySource } from "../../workload-api/identity-source.js";
import { shouldRotateX509 } from "../manager/rotation.js";
import type { CachedEntry, CachedX509Svid, PendingMint, X509CacheSnapshot } from "./cache-types.js";
import { entryFieldsEqual, sameDerList } from "./compare.js";
import type { Subscriber } from "./subscriber.js";
import { createSubscriber } from "./subscriber.js";
import type { CacheView } from "./subscriptions.js";
import { compareEntryIds, matchingEntries } from "./subscriptions.js";

/** Default soft limit on cached workload SVIDs (`x509_svid_cache_max_size`), as in SPIRE. */
export const DEFAULT_X509_SVID_CACHE_MAX_SIZE = 1000;

/** Maximum delay setTimeout accepts (about 24.8 days); a longer wait is split into several. */
const MAX_TIMER_DELAY_MS = 2 ** 31 - 1;

/** Settings for {@link createX509Cache}. */
export interface X509CacheOptions {
  /** Bare name of the agent's trust domain. */
  trustDomain: string;
  /** DER roots of the agent's trust domain, from attestation. */
  bundle: Buffer[];
  /** Soft limit on SVIDs kept for entries that no workload is subscribed to. */
  maxSvids?: number;
  logger: Logger;
  /** Clock in milliseconds, for expiry checks and the last-access times used by eviction. */
  now?: () => number;
}

/** Counts from one {@link X509Cache.update} call. */
export interface EntryUpdateStats {
  added: number;
  changed: number;
  removed: number;
  bundleChanged: boolean;
}

/**
 * The agent's workload X.509 cache: registration entries, the SVIDs minted for them,
 * and the bundles of the own and federated trust domains. It is the {@link IdentitySource}
 * the Workload API serves from.
 */
export interface X509Cache extends IdentitySource {
  /**
   * Replaces the entry set and bundles with the result of a sync, then notifies affected
   * subscribers. The own trust domain's bundle is kept when `bundles` lacks it, because
   * the agent needs it to authenticate the server.
   */
  update(entries: ReadonlyMap<string, CachedEntry>, bundles: ReadonlyMap<string, Buffer[]>): EntryUpdateStats;
  /** Stores minted SVIDs keyed by entry ID and notifies affected subscribers. */
  storeSvids(svids: ReadonlyMap<string, CachedX509Svid>): void;
  /**
   * Lists entries that need an SVID now: missing for an entry a workload is subscribed
   * to; missing while prefetching stays under the size limit; due for rotation at
   * `nowMs`; or minted for an older revision of the entry. Sorted by entry ID.
   */
  pendingMints(nowMs: number, random?: () => number): PendingMint[];
  /** Registers the function called when a subscriber waits for SVIDs that are missing. */
  onMintNeeded(listener: () => void): void;
  /** Current entries keyed by ID; do not mutate. */
  entries(): ReadonlyMap<string, CachedEntry>;
  svidCount(): number;
  /** Counts the SVIDs that have not expired at `nowMs` (default: now). */
  usableSvidCount(nowMs?: number): number;
  /** DER roots of the agent's own trust domain. */
  bundle(): Buffer[];
  /**
   * Registers `listener` for every change of entries, SVIDs or bundles (the runtime cache
   * file is rewritten after one). Returns a function that removes it.
   */
  onChange(listener: () => void): () => void;
  /** Returns a copy of the entries, SVIDs and bundles; the objects in it are shared, not cloned. */
  snapshot(): X509CacheSnapshot;
  /**
   * Replaces the entries, SVIDs and federated bundles with `snapshot` (from the runtime
   * cache file, already checked), before the first sync. The own trust domain's bundle is
   * kept, because it comes from data_dir. An SVID whose entry is missing or names another
   * SPIFFE ID is skipped; one minted for an older revision of its entry is re-minted.
   * Returns what was restored. Change listeners are not called.
   */
  restore(snapshot: X509CacheSnapshot): { entries: number; svids: number };
  /** Stops the timer that removes SVIDs when they expire. */
  close(): void;
}

/** Creates an empty cache holding only the bootstrap bundle. */
export function createX509Cache(options: X509CacheOptions): X509Cache {
  const logger = options.logger;
  const now = options.now ?? Date.now;
  const maxSvids = options.maxSvids ?? DEFAULT_X509_SVID_CACHE_MAX_SIZE;

  const entries = new Map<string, CachedEntry>();
  const svids = new Map<string, CachedX509Svid>();
  const bundles = new Map<string, Buffer[]>([[options.trustDomain, options.bundle]]);
  // Entry IDs whose SVID was minted for an older revision of the entry.
  const outdated = new Set<string>();
  const lastAccessMs = new Map<string, number>();
  const subscribers = new Set<Subscriber>();
  const bundleListeners = new Set<() => void>();
  const mintListeners = new Set<() => void>();
  const changeListeners = new Set<() => void>();
  let expiryTimer: NodeJS.Timeout | undefined;

  const view: CacheView = { trustDomain: options.trustDomain, entries, svids, bundles, now };

  function refreshSubscribers(): void {
    for (const subscriber of [...subscribers]) {
      subscriber.refresh();
    }
  }

  function notifyChange(): void {
    for (const listener of [...changeListeners]) {
      listener();
    }
  }

  // Subscribers hear about an expiry only through a refresh, and while the server is
  // unreachable nothing else refreshes them, so a timer does it at the earliest expiry.
  function scheduleExpirySweep(): void {
    clearTimeout(expiryTimer);
    expiryTimer = undefined;

    let earliestMs = Number.POSITIVE_INFINITY;
    for (const svid of svids.values()) {
      earliestMs = Math.min(earliestMs, svid.notAfterMs);
    }
    if (earliestMs === Number.POSITIVE_INFINITY) {
      return;
    }

    const delayMs = Math.min(Math.max(0, earliestMs - now()), MAX_TIMER_DELAY_MS);
    expiryTimer = setTimeout(removeExpiredSvids, delayMs);
    expiryTimer.unref();
  }

  function removeExpiredSvids(): void {
    const nowMs = now();
    let removed = 0;
    for (const [id, svid] of [...svids]) {
      if (svid.notAfterMs > nowMs) {
        continue;
      }
      svids.delete(id);
      outdated.delete(id);
      removed++;
      logger.warn(
        { entry_id: id, spiffe_id: svid.spiffeId, expired_at: new Date(svid.notAfterMs).toISOString() },
        "X.509-SVID expired before it could be renewed; removed it from the cache",
      );
    }

    if (removed > 0) {
      refreshSubscribers();
      notifyChange();
    }
    scheduleExpirySweep();
  }

  function requestMint(): void {
    for (const listener of mintListeners) {
      listener();
    }
  }

  function activeEntryIds(): Set<string> {
    const active = new Set<string>();
    for (const subscriber of subscribers) {
      for (const entry of matchingEntries(view, subscriber.selectors)) {
        active.add(entry.id);
      }
    }
    return active;
  }

  function updateBundles(next: ReadonlyMap<string, Buffer[]>): boolean {
    let changed = false;

    for (const trustDomain of [...bundles.keys()]) {
      if (!next.has(trustDomain) && trustDomain !== options.trustDomain) {
        bundles.delete(trustDomain);
        logger.debug({ trust_domain: trustDomain }, "Bundle removed");
        changed = true;
      }
    }

    for (const [trustDomain, roots] of next) {
      const existing = bundles.get(trustDomain);
      if (existing === undefined || !sameDerList(existing, roots)) {
        bundles.set(trustDomain, roots);
        logger.debug({ trust_domain: trustDomain }, existing === undefined ? "Bundle added" : "Bundle updated");
        changed = true;
      }
    }

    return changed;
  }

  function updateEntries(next: ReadonlyMap<string, CachedEntry>): Omit<EntryUpdateStats, "bundleChanged"> {
    const stats = { added: 0, changed: 0, removed: 0 };

    for (const [id, entry] of [...entries]) {
      if (!next.has(id)) {
        entries.delete(id);
        svids.delete(id);
        outdated.delete(id);
        lastAccessMs.delete(id);
        stats.removed++;
        logger.debug({ entry_id: id, spiffe_id: entry.spiffeId }, "Entry removed");
      }
    }

    for (const [id, entry] of next) {
      const existing = entries.get(id);
      if (existing === undefined) {
        entries.set(id, entry);
        stats.added++;
        logger.debug({ entry_id: id, spiffe_id: entry.spiffeId }, "Entry created");
        continue;
      }

      if (existing.revisionNumber === entry.revisionNumber && entryFieldsEqual(existing, entry)) {
        continue;
      }

      entries.set(id, entry);
      stats.changed++;
      logger.debug({ entry_id: id, spiffe_id: entry.spiffeId }, "Entry updated");

      // An SVID naming the old SPIFFE ID, or minted for a deleted entry that was recreated
      // under the same ID, must not be served while the new one is minted.
      if (existing.spiffeId !== entry.spiffeId || existing.createdAt !== entry.createdAt) {
        svids.delete(id);
        outdated.delete(id);
      } else if (svids.has(id)) {
        outdated.add(id);
      }
    }

    return stats;
  }

  function evictUnused(): void {
    let extra = svids.size - maxSvids;
    if (extra <= 0) {
      return;
    }

    const active = activeEntryIds();
    const candidates = [...svids.keys()]
      .filter((id) => !active.has(id))
      .sort((a, b) => (lastAccessMs.get(a) ?? 0) - (lastAccessMs.get(b) ?? 0));
    for (const id of candidates) {
      if (extra <= 0) {
        break;
      }
      svids.delete(id);
      outdated.delete(id);
      extra--;
      logger.debug({ entry_id: id }, "Removed unused X.509-SVID from the cache");
    }
  }

  function notifyBundleListeners(): void {
    for (const listener of [...bundleListeners]) {
      listener();
    }
  }

  return {
    update(nextEntries, nextBundles) {
      const svidsBefore = svids.size;
      const bundleChanged = updateBundles(nextBundles);
      const stats = updateEntries(nextEntries);
      evictUnused();
      scheduleExpirySweep();

      refreshSubscribers();
      if (bundleChanged) {
        notifyBundleListeners();
      }
      if (bundleChanged || stats.added + stats.changed + stats.removed > 0 || svids.size !== svidsBefore) {
        notifyChange();
      }
      return { ...stats, bundleChanged };
    },

    storeSvids(minted) {
      let stored = 0;
      for (const [id, svid] of minted) {
        const entry = entries.get(id);
        if (entry === undefined) {
          logger.debug({ entry_id: id }, "Dropped X.509-SVID minted for an entry that no longer exists");
          continue;
        }
        if (entry.spiffeId !== svid.spiffeId) {
          logger.debug({ entry_id: id, spiffe_id: svid.spiffeId }, "Dropped X.509-SVID minted for an old SPIFFE ID");
          continue;
        }

        svids.set(id, svid);
        stored++;
        if (svid.entryRevision === entry.revisionNumber) {
          outdated.delete(id);
        }
      }
      scheduleExpirySweep();
      refreshSubscribers();
      if (stored > 0) {
        notifyChange();
      }
    },

    pendingMints(nowMs, random = Math.random) {
      const active = activeEntryIds();
      const pending: PendingMint[] = [];
      let prefetchRoom = maxSvids - svids.size;

      for (const entry of [...entries.values()].sort(compareEntryIds)) {
        const svid = svids.get(entry.id);
        if (svid === undefined) {
          if (active.has(entry.id)) {
            pending.push({ entry, reason: "missing" });
          } else if (!entry.disableX509SvidPrefetch && prefetchRoom > 0) {
            pending.push({ entry, reason: "missing" });
            prefetchRoom--;
          }
          continue;
        }

        if (outdated.has(entry.id)) {
          pending.push({ entry, currentExpiresAtMs: svid.notAfterMs, reason: "entry_changed" });
        } else if (shouldRotateX509({ notBeforeMs: svid.notBeforeMs, notAfterMs: svid.notAfterMs }, nowMs, random)) {
          pending.push({ entry, currentExpiresAtMs: svid.notAfterMs, reason: "expiring" });
        }
      }

      return pending;
    },

    onMintNeeded(listener) {
      mintListeners.add(listener);
    },

    entries() {
      return entries;
    },

    svidCount() {
      return svids.size;
    },

    usableSvidCount(nowMs = now()) {
      let count = 0;
      for (const svid of svids.values()) {
        if (svid.notAfterMs > nowMs) {
          count++;
        }
      }
      return count;
    },

    bundle() {
      return bundles.get(options.trustDomain) ?? [];
    },

    onChange(listener) {
      changeListeners.add(listener);
      return () => {
        changeListeners.delete(listener);
      };
    },

    snapshot() {
      return { entries: [...entries.values()], svids: new Map(svids), bundles: new Map(bundles) };
    },

    restore(snapshot) {
      entries.clear();
      svids.clear();
      outdated.clear();
      for (const entry of snapshot.entries) {
        entries.set(entry.id, entry);
      }

      for (const [id, svid] of snapshot.svids) {
        const entry = entries.get(id);
        if (entry === undefined || entry.spiffeId !== svid.spiffeId) {
          continue;
        }
        svids.set(id, svid);
        if (svid.entryRevision !== entry.revisionNumber) {
          outdated.add(id);
        }
      }

      const ownBundle = bundles.get(options.trustDomain) ?? [];
      const bundleChanged = updateBundles(new Map([...snapshot.bundles, [options.trustDomain, ownBundle]]));

      scheduleExpirySweep();
      refreshSubscribers();
      if (bundleChanged) {
        notifyBundleListeners();
      }
      return { entries: entries.size, svids: svids.size };
    },

    close() {
      clearTimeout(expiryTimer);
      expiryTimer = undefined;
    },

    subscribe(selectors: Selector[]) {
      const subscriber = createSubscriber([...selectors], {
        view: () => view,
        onWaiting: requestMint,
        onClose: (closed) => subscribers.delete(closed),
        logger,
      });
      subscribers.add(subscriber);

      const accessedAt = now();
      for (const entry of matchingEntries(view, selectors)) {
        lastAccessMs.set(entry.id, accessedAt);
      }
      return subscriber.subscription;
    },

    x509Bundles() {
      return { trustDomain: options.trustDomain, bundles: new Map(bundles) };
    },

    onBundleUpdate(listener) {
      bundleListeners.add(listener);
      return () => {
        bundleListeners.delete(listener);
      };
    },
  };
}
