import type { Logger } from "../../common/log.js";
import type { CachedEntry } from "../cache/cache-types.js";
import type { EntryUpdateStats, X509Cache } from "../cache/x509-cache.js";
import { x509RootsFromProto } from "../client/bundle-convert.js";
import type { EntrySyncStats } from "../client/entry-sync.js";
import type { ServerClient } from "../client/server-client.js";

/** How many federated bundles are fetched at the same time, as in SPIRE's agent. */
const FEDERATED_BUNDLE_CONCURRENCY = 10;

/** What one sync changed. */
export interface SyncOutcome {
  entries: EntrySyncStats;
  cache: EntryUpdateStats;
  bundles: number;
}

/**
 * Syncs the entries the agent is authorized for and the bundles they need into the cache:
 * SyncAuthorizedEntries, then GetBundle for the own trust domain and GetFederatedBundle for
 * every trust domain the entries federate with (a bundle the server lacks is skipped with
 * a warning). Entries with `store_svid` are left out, because they are meant for SVIDStore
 * plugins, which Tessera does not have. Throws when a call fails; the cache is then unchanged.
 */
export async function synchronize(client: ServerClient, cache: X509Cache, trustDomain: string, logger: Logger): Promise<SyncOutcome> {
  const synced = await client.syncAuthorizedEntries(cache.entries());

  const workloadEntries = new Map<string, CachedEntry>();
  let storeEntries = 0;
  for (const [id, entry] of synced.entries) {
    if (entry.storeSvid) {
      storeEntries++;
      continue;
    }
    workloadEntries.set(id, entry);
  }
  if (storeEntries > 0) {
    logger.debug({ count: storeEntries }, "Skipped entries with store_svid: SVIDStore plugins are not supported");
  }

  const bundles = await fetchBundles(client, trustDomain, federatedTrustDomains(workloadEntries, trustDomain), logger);
  const cacheStats = cache.update(workloadEntries, bundles);

  logger.debug(
    {
      total: synced.stats.total,
      missing: synced.stats.missing,
      stale: synced.stats.stale,
      dropped: synced.stats.dropped,
      revision_pages: synced.stats.revisionPages,
      bundles: bundles.size,
    },
    "Synchronized entries with the server",
  );
  return { entries: synced.stats, cache: cacheStats, bundles: bundles.size };
}

function federatedTrustDomains(entries: ReadonlyMap<string, CachedEntry>, trustDomain: string): string[] {
  const names = new Set<string>();
  for (const entry of entries.values()) {
    for (const name of entry.federatesWith) {
      if (name !== trustDomain) {
        names.add(name);
      }
    }
  }
  return [...names].sort();
}

async function fetchBundles(client: ServerClient, trustDomain: string, federated: string[], logger: Logger): Promise<Map<string, Buffer[]>> {
  const own = x509RootsFromProto(await client.getBundle());
  if (own.trustDomain !== trustDomain) {
    throw new Error(`failed to fetch bundle: the server returned the bundle of ${own.trustDomain}, expected ${trustDomain}`);
  }
  const bundles = new Map<string, Buffer[]>([[trustDomain, own.roots]]);

  const queue = [...federated];
  const worker = async (): Promise<void> => {
    for (let name = queue.shift(); name !== undefined; name = queue.shift()) {
      const bundle = await client.getFederatedBundle(name);
      if (bundle === undefined) {
        continue;
      }
      try {
        const { roots } = x509RootsFromProto(bundle);
        bundles.set(name, roots);
      } catch (error) {
        logger.warn({ trust_domain: name, error: (error as Error).message }, "Received malformed federated bundle from the server");
      }
    }
  };
  await Promise.all(Array.from({ length: Math.min(FEDERATED_BUNDLE_CONCURRENCY, federated.length) }, worker));
  return bundles;
}
