import type { Selector } from "../../spiffe/selector.js";

/**
 * A registration entry as the agent keeps it after sync: only the fields the agent asks
 * the server for (see the output mask in the entry sync), validated on receipt.
 */
export interface CachedEntry {
  id: string;
  /** SPIFFE ID in URI form. */
  spiffeId: string;
  /** Never empty: entries without selectors are rejected on receipt. */
  selectors: Selector[];
  /** Bare trust domain names (`example.org`) whose bundles workloads of this entry get. */
  federatesWith: string[];
  admin: boolean;
  downstream: boolean;
  revisionNumber: number;
  storeSvid: boolean;
  hint: string;
  /** Unix seconds; 0 when the server did not send it. */
  createdAt: number;
  /** When true, the SVID is minted only once a workload requests it. */
  disableX509SvidPrefetch: boolean;
}

/** An X.509-SVID minted for an entry, with the key that the agent generated for it. */
export interface CachedX509Svid {
  /** DER certificates, leaf first. */
  certChain: Buffer[];
  /** PKCS#8 DER private key. Never log it. */
  privateKeyPkcs8: Buffer;
  /** SPIFFE ID the SVID was requested for; a result for an entry whose ID changed since is dropped. */
  spiffeId: string;
  /** Revision of the entry when the CSR was made. */
  entryRevision: number;
  notBeforeMs: number;
  notAfterMs: number;
}

/** An entry whose SVID should be (re)minted, as the cache reports it to the minting pass. */
export interface PendingMint {
  entry: CachedEntry;
  /** Expiry of the SVID being replaced, or undefined when the entry has none yet. */
  currentExpiresAtMs?: number;
  reason: "missing" | "expiring" | "entry_changed";
}

/** A copy of the X.509 cache's contents, as the runtime cache file stores it. */
export interface X509CacheSnapshot {
  entries: CachedEntry[];
  /** SVIDs keyed by entry ID. */
  svids: Map<string, CachedX509Svid>;
  /** DER roots keyed by bare trust domain name, the agent's own included. */
  bundles: Map<string, Buffer[]>;
}
