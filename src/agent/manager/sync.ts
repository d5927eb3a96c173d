import type { Logger } from "../../common/log.js";
import type { types } from "../../proto/index.js";
import { parseTrustDomain } from "../../spiffe/trust-domain.js";
import type { JwtAuthority } from "../../workload-api/jwt-source.js";
import type { CachedEntry } from "../cache/cache-types.js";
import type { JwtBundleStore } from "../cache/jwt-bundle-store.js";
import type { EntryUpdateStats, X509Cache } from "../cache/x509-cache.js";
import { jwtAuthoritiesFromProto, taintedJwtKeyIds, x509RootsFromProto } from "../client/bundle-convert.js";
import type { EntrySyncStats } from "../client/entry-sync.js";
import type { ServerClient } from "../client/server-client.js";

/** How many federated bundles are fetched at the same time, as in SPIRE's agent. */
const FEDERATED_BUNDLE_CONCURRENCY = 10;

/** Changes made by one sync. */
export interface SyncOutcome {
  entries: EntrySyncStats;
  cache: EntryUpdateStats;
  /** Trust domains with X.509 roots, the own one included. */
  bundles: number;
  jwtBundleChanged: boolean;
  /** Key IDs of the own trust domain's JWT authorities that the server marked as tainted. */
  taintedJwtKeyIds: string[];
}

/** Bundles fetched in one sync, keyed by bare trust domain name. */
export interface FetchedBundles {
  x509: Map<string, Buffer[]>;
  jwt: Map<string, JwtAuthority[]>;
  /** Key IDs of the own bundle's tainted JWT authorities. */
  taintedJwtKeyIds: string[];
}

/**
 * Syncs the entries the agent is authorized for and the bundles they need into the cache:
 * SyncAuthorizedEntries, then GetBundle for the own trust domain and GetFederatedBundle for
 * every trust domain the entries federate with (a bundle the server lacks is skipped with
 * a warning). X.509 roots go to `cache`, JWT authorities to `jwtBundles`. Entries with
 * `store_svid` are left out, because they are meant for SVIDStore plugins, which Tessera
 * does not have. Throws when a call fails; both caches are then unchanged.
 */
export async function synchronize(
  client: ServerClient,
  cache: X509Cache,
  jwtBundles: JwtBundleStore,
  trustDomain: string,
  logger: Logger,
): Promise<SyncOutcome> {
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
  const jwtBundleChanged = jwtBundles.update(bundles.jwt);
  const cacheStats = cache.update(workloadEntries, bundles.x509);

  logger.debug(
    {
      total: synced.stats.total,
      missing: synced.stats.missing,
      stale: synced.stats.stale,
      dropped: synced.stats.dropped,
      revision_pages: synced.stats.revisionPages,
      bundles: bundles.x509.size,
    },
    "Synchronized entries with the server",
  );
  return { entries: synced.stats, cache: cacheStats, bundles: bundles.x509.size, jwtBundleChanged, taintedJwtKeyIds: bundles.taintedJwtKeyIds };
}

/** Returns the sorted union of the trust domains `entries` federate with, the own one excluded. */
export function federatedTrustDomains(entries: ReadonlyMap<string, CachedEntry>, trustDomain: string): string[] {
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

/**
 * Fetches the own bundle and the federated ones, at most {@link FEDERATED_BUNDLE_CONCURRENCY}
 * at a time. A federated bundle may carry only X.509 roots or only JWT authorities; one that
 * names another trust domain or carries neither is skipped with a warning.
 */
export async function fetchBundles(client: ServerClient, trustDomain: string, federated: string[], logger: Logger): Promise<FetchedBundles> {
  const ownBundle = await client.getBundle();
  const own = x509RootsFromProto(ownBundle);
  if (own.trustDomain !== trustDomain) {
    throw new Error(`failed to fetch bundle: the server returned the bundle of ${own.trustDomain}, expected ${trustDomain}`);
  }
  const fetched: FetchedBundles = {
    x509: new Map([[trustDomain, own.roots]]),
    jwt: new Map([[trustDomain, jwtAuthoritiesFromProto(ownBundle)]]),
    taintedJwtKeyIds: taintedJwtKeyIds(ownBundle),
  };

  const queue = [...federated];
  const worker = async (): Promise<void> => {
    for (let name = queue.shift(); name !== undefined; name = queue.shift()) {
      const bundle = await client.getFederatedBundle(name);
      if (bundle !== undefined) {
        storeFederatedBundle(fetched, name, bundle, logger);
      }
    }
  };
  await Promise.all(Array.from({ length: Math.min(FEDERATED_BUNDLE_CONCURRENCY, federated.length) }, worker));
  return fetched;
}

function storeFederatedBundle(fetched: FetchedBundles, name: string, bundle: types.Bundle__Output, logger: Logger): void {
  let bundleTrustDomain: string;
  try {
    bundleTrustDomain = parseTrustDomain(bundle.trust_domain);
  } catch (error) {
    logger.warn({ trust_domain: name, error: (error as Error).message }, "Received malformed federated bundle from the server");
    return;
  }
  if (bundleTrustDomain !== name) {
    logger.warn({ trust_domain: name, bundle_trust_domain: bundleTrustDomain }, "Received the bundle of another trust domain; skipping it");
    return;
  }

  const roots = bundle.x509_authorities.map((authority) => authority.asn1).filter((der) => der.length > 0);
  const jwtAuthorities = jwtAuthoritiesFromProto(bundle);
  if (roots.length === 0 && jwtAuthorities.length === 0) {
    logger.warn({ trust_domain: name }, "Received federated bundle without X.509 or JWT authorities; skipping it");
    return;
  }

  if (roots.length > 0) {
    fetched.x509.set(name, roots);
  }
  fetched.jwt.set(name, jwtAuthorities);
}
