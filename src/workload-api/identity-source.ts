import type { Selector } from "../spiffe/selector.js";

/** One X.509-SVID the agent holds for a registration entry, ready to hand to a workload. */
export interface WorkloadX509Svid {
  /** Registration entry the SVID was minted for; identities are ordered by this ID. */
  entryId: string;
  /** SPIFFE ID in URI form, e.g. `spiffe://example.org/billing`. */
  spiffeId: string;
  /** Entry hint sent to workloads (empty when the entry has none). */
  hint: string;
  /** Entry creation time in Unix seconds; breaks ties when hints are de-duplicated. */
  createdAt: number;
  /** DER certificates, leaf first, as the server returned them. */
  certChain: Buffer[];
  /** PKCS#8 DER private key. Never log it. */
  privateKeyPkcs8: Buffer;
  /** Expiry of the leaf certificate in Unix seconds. */
  expiresAt: number;
}

/** The complete X.509 state that one workload is entitled to, as one Workload API message carries it. */
export interface WorkloadX509Update {
  /** Identities whose entry selectors the workload's selectors satisfy, sorted by entry ID. */
  svids: WorkloadX509Svid[];
  /** Trust domain name (without `spiffe://`) of the agent. */
  trustDomain: string;
  /** DER root certificates of the agent's trust domain. */
  bundle: Buffer[];
  /** DER roots of other trust domains, keyed by bare trust domain name. */
  federatedBundles: Map<string, Buffer[]>;
}

/** A live view of one workload's identities; see {@link IdentitySource.subscribe}. */
export interface X509Subscription {
  /**
   * Resolves with the first complete update: it waits while SVIDs for matching entries
   * are still being minted, so a new caller never gets a partial response. Resolves with
   * an update whose `svids` is empty when no entry matches.
   */
  ready(signal?: AbortSignal): Promise<WorkloadX509Update>;
  /** Registers `listener` for every later change; returns a function that removes it. */
  onUpdate(listener: (update: WorkloadX509Update) => void): () => void;
  /** Ends the subscription; the cache stops tracking it. */
  close(): void;
}

/**
 * Source of X.509 identities for the Workload API endpoint, implemented by the agent's
 * cache: the identities and bundles that a set of workload selectors is entitled to, and
 * a signal when they change.
 *
 * Matching is a subset test: an entry matches when every one of its selectors is among
 * the workload's selectors.
 */
export interface IdentitySource {
  /** Starts tracking the identities of a workload with these selectors. */
  subscribe(selectors: Selector[]): X509Subscription;
  /** Current X.509 bundles: the agent's own trust domain and every federated one, keyed by bare name. */
  x509Bundles(): { trustDomain: string; bundles: Map<string, Buffer[]> };
  /** Registers `listener` for bundle changes; returns a function that removes it. */
  onBundleUpdate(listener: () => void): () => void;
}
