import type { workload } from "../proto/index.js";
import { concatDer } from "../spiffe/bundle.js";
import { trustDomainId } from "../spiffe/trust-domain.js";
import type { WorkloadX509Svid, WorkloadX509Update } from "./identity-source.js";

/**
 * Builds the `FetchX509SVID` message for an update: one `X509SVID` per identity, sorted by
 * entry ID so the first is the default identity, after {@link filterDuplicateHints}.
 * Federated bundles are keyed by trust domain SPIFFE ID (`spiffe://<name>`), as the
 * Workload API specifies. `crl` stays empty because the agent has no CRLs to serve.
 */
export function composeX509SvidResponse(update: WorkloadX509Update): workload.X509SVIDResponse {
  const bundle = concatDer(update.bundle);
  const svids = filterDuplicateHints(update.svids).sort(compareByEntryId);

  return {
    svids: svids.map((svid) => ({
      spiffe_id: svid.spiffeId,
      x509_svid: concatDer(svid.certChain),
      x509_svid_key: svid.privateKeyPkcs8,
      bundle,
      hint: svid.hint,
    })),
    crl: [],
    federated_bundles: composeBundleMap(update.federatedBundles),
  };
}

/**
 * Builds the `FetchX509Bundles` message: the agent's own trust domain bundle, plus the
 * federated bundles of the update when `includeFederated` (callers without an identity
 * get only the own bundle). Keys are trust domain SPIFFE IDs.
 */
export function composeX509BundlesResponse(update: WorkloadX509Update, includeFederated: boolean): workload.X509BundlesResponse {
  const bundles = includeFederated ? composeBundleMap(update.federatedBundles) : {};
  bundles[trustDomainId(update.trustDomain)] = concatDer(update.bundle);

  return { crl: [], bundles };
}

/**
 * Keeps one identity per non-empty hint, because the Workload API requires hints to be
 * unique within a message. The kept one is the entry created first, and on a tie the one
 * with the smaller entry ID, as SPIRE chooses. Identities without a hint are all kept.
 * The result is in input order. X.509-SVIDs and JWT identities use the same rule.
 */
export function filterDuplicateHints<Identity extends HintedIdentity>(svids: readonly Identity[]): Identity[] {
  const winners = new Map<string, Identity>();
  for (const svid of svids) {
    if (svid.hint === "") {
      continue;
    }
    const current = winners.get(svid.hint);
    if (current === undefined || isPreferred(svid, current)) {
      winners.set(svid.hint, svid);
    }
  }

  return svids.filter((svid) => svid.hint === "" || winners.get(svid.hint) === svid);
}

/** The fields of an identity that {@link filterDuplicateHints} compares. */
export interface HintedIdentity {
  entryId: string;
  hint: string;
  createdAt: number;
}

function isPreferred(candidate: HintedIdentity, current: HintedIdentity): boolean {
  if (candidate.createdAt !== current.createdAt) {
    return candidate.createdAt < current.createdAt;
  }
  return candidate.entryId < current.entryId;
}

function compareByEntryId(a: WorkloadX509Svid, b: WorkloadX509Svid): number {
  if (a.entryId === b.entryId) {
    return 0;
  }
  return a.entryId < b.entryId ? -1 : 1;
}

function composeBundleMap(bundles: ReadonlyMap<string, Buffer[]>): Record<string, Buffer> {
  const map: Record<string, Buffer> = {};
  for (const [trustDomain, roots] of bundles) {
    map[trustDomainId(trustDomain)] = concatDer(roots);
  }
  return map;
}
