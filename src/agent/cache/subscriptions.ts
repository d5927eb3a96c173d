import type { Selector } from "../../spiffe/selector.js";
import { selectorsSatisfy } from "../../spiffe/selector.js";
import type { WorkloadX509Svid, WorkloadX509Update } from "../../workload-api/identity-source.js";
import type { CachedEntry, CachedX509Svid } from "./cache-types.js";

/** The parts of the cache that a workload's update is built from. */
export interface CacheView {
  /** Bare name of the agent's trust domain. */
  trustDomain: string;
  entries: ReadonlyMap<string, CachedEntry>;
  svids: ReadonlyMap<string, CachedX509Svid>;
  /** DER roots keyed by bare trust domain name, the agent's own included. */
  bundles: ReadonlyMap<string, Buffer[]>;
  /** Clock in milliseconds; an SVID whose notAfter is at or before it is never handed out. */
  now: () => number;
}

/**
 * Identity of everything an update was built from. Cached objects are replaced, never
 * mutated, so comparing references tells whether anything a workload sees has changed.
 */
export type UpdateFingerprint = readonly unknown[];

/** Returns the entries whose selectors are all among `selectors`, sorted by entry ID. */
export function matchingEntries(view: CacheView, selectors: readonly Selector[]): CachedEntry[] {
  const matching: CachedEntry[] = [];
  for (const entry of view.entries.values()) {
    if (selectorsSatisfy(entry.selectors, selectors)) {
      matching.push(entry);
    }
  }
  return matching.sort(compareEntryIds);
}

/** Orders entries by ID in code unit order, as SPIRE's Go sort orders strings by bytes for ASCII IDs. */
export function compareEntryIds(a: { id: string }, b: { id: string }): number {
  if (a.id === b.id) {
    return 0;
  }
  return a.id < b.id ? -1 : 1;
}

/**
 * Returns the SVID of `entryId` when the cache contains one that has not expired. An expired
 * SVID (one the server could not renew in time) counts as missing, so it is never served.
 */
export function usableSvid(view: CacheView, entryId: string, nowMs: number = view.now()): CachedX509Svid | undefined {
  const svid = view.svids.get(entryId);
  return svid !== undefined && svid.notAfterMs > nowMs ? svid : undefined;
}

/** Tells whether every entry in `entries` has an SVID in the cache that has not expired. */
export function allMinted(view: CacheView, entries: readonly CachedEntry[]): boolean {
  const nowMs = view.now();
  return entries.every((entry) => usableSvid(view, entry.id, nowMs) !== undefined);
}

/**
 * Builds the Workload API view of `entries` and its fingerprint. The view has the minted
 * SVIDs that have not expired, in entry ID order, and the own trust domain's roots. It
 * also has the bundles of every trust domain those entries federate with, except the ones
 * the agent has no bundle for.
 */
export function buildWorkloadUpdate(
  view: CacheView,
  entries: readonly CachedEntry[],
): { update: WorkloadX509Update; fingerprint: UpdateFingerprint } {
  const bundle = view.bundles.get(view.trustDomain) ?? [];
  const fingerprint: unknown[] = [bundle];
  const svids: WorkloadX509Svid[] = [];
  const federatedBundles = new Map<string, Buffer[]>();
  const nowMs = view.now();

  for (const entry of entries) {
    const svid = usableSvid(view, entry.id, nowMs);
    if (svid === undefined) {
      continue;
    }
    fingerprint.push(entry, svid);

    svids.push({
      entryId: entry.id,
      spiffeId: entry.spiffeId,
      hint: entry.hint,
      createdAt: entry.createdAt,
      certChain: svid.certChain,
      privateKeyPkcs8: svid.privateKeyPkcs8,
      expiresAt: Math.floor(svid.notAfterMs / 1000),
    });

    for (const trustDomain of entry.federatesWith) {
      const federated = view.bundles.get(trustDomain);
      if (federated !== undefined && trustDomain !== view.trustDomain) {
        federatedBundles.set(trustDomain, federated);
      }
    }
  }

  for (const [trustDomain, federated] of [...federatedBundles.entries()].sort(([a], [b]) => (a < b ? -1 : 1))) {
    fingerprint.push(trustDomain, federated);
  }

  return {
    update: { svids, trustDomain: view.trustDomain, bundle, federatedBundles },
    fingerprint,
  };
}

/** Tells whether two fingerprints were built from the same objects. */
export function sameFingerprint(a: UpdateFingerprint | undefined, b: UpdateFingerprint): boolean {
  return a !== undefined && a.length === b.length && a.every((value, index) => value === b[index]);
}
