import type { Selector } from "../spiffe/selector.js";

/** A JWT-SVID handed to a workload. */
export interface WorkloadJwtSvid {
  /** SPIFFE ID in URI form; equals the token's `sub` claim. */
  spiffeId: string;
  /** Compact JWS. Never log it. */
  token: string;
  /** Entry hint sent to workloads (empty when the entry has none). */
  hint: string;
  /** Expiry (`exp`) in Unix seconds. */
  expiresAt: number;
}

/** One JWT signing key of a trust domain, as its bundle publishes it. */
export interface JwtAuthority {
  /** The `kid` that tokens signed with this key carry. */
  keyId: string;
  /** Public key as PKIX (SubjectPublicKeyInfo) DER. */
  publicKeyDer: Buffer;
  /** Expiry in Unix seconds; 0 when the bundle sets none. */
  expiresAt: number;
}

/** An identity a workload is entitled to, without key material: enough to request a JWT-SVID. */
export interface JwtIdentity {
  entryId: string;
  /** SPIFFE ID in URI form. */
  spiffeId: string;
  hint: string;
  /** Entry creation time in Unix seconds; breaks ties when hints are de-duplicated. */
  createdAt: number;
  /** Bare names of the trust domains the entry federates with. */
  federatesWith: string[];
}

/**
 * Source of JWT identities for the Workload API's JWT methods, implemented by the agent:
 * the identities a set of workload selectors is entitled to, JWT-SVIDs for them, and the
 * JWT authorities of every trust domain the agent has a bundle for.
 *
 * Unlike X.509-SVIDs, JWT-SVIDs are minted on request, so an identity needs no cached
 * SVID to be listed.
 */
export interface JwtSource {
  /** Identities whose entry selectors are all among `selectors`, sorted by entry ID. */
  matchingIdentities(selectors: Selector[]): JwtIdentity[];
  /**
   * Returns a JWT-SVID for `identity` and `audience`: a cached token while it is before
   * its jittered half-life, otherwise a new one from the server. When the server cannot be
   * reached, a cached token that has not expired is returned instead. Throws when no valid
   * token can be had.
   */
  fetchJwtSvid(identity: JwtIdentity, audience: string[], signal: AbortSignal): Promise<WorkloadJwtSvid>;
  /** JWT authorities of the agent's own and every federated trust domain, keyed by bare name. */
  jwtBundles(): { trustDomain: string; bundles: Map<string, JwtAuthority[]> };
  /** Registers `listener` for bundle changes; returns a function that removes it. */
  onBundleUpdate(listener: () => void): () => void;
}
