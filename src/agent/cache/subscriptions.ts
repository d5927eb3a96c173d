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

/** Tells whether every entry in `entries` has an SVID in the cache. */
export function allMinted(view: CacheView, entries: readonly CachedEntry[]): boolean {
  return entries.every((entry) => view.svids.has(entry.id));
}

/**
 * Builds the Workload API view of `entries`: the minted SVIDs in entry ID order, the own
 * trust domain's roots, and the bundles of every trust domain those entries federate with
 * (skipping ones the agent has no bundle for). Also returns its fingerprint.
 */
export function buildWorkloadUpdate(
  view: CacheView,
  entries: readonly CachedEntry[],
): { update: WorkloadX509Update; fingerprint: UpdateFingerprint } {
  const bundle = view.bundles.get(view.trustDomain) ?? [];
  const fingerprint: unknown[] = [bundle];
  const svids: WorkloadX509Svid[] = [];
  const federatedBundles = new Map<string, Buffer[]>();

  for (const entry of entries) {
    const svid = view.svids.get(entry.id);
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
