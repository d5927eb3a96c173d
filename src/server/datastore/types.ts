import type { Selector } from "../../spiffe/selector.js";

/**
 * A registration entry as the server stores it. IDs are SPIFFE ID strings, trust domains in
 * `federatesWith` are bare names, and times are Unix seconds (0 = unset), matching the
 * fields of SPIRE's `types.Entry`.
 */
export interface RegistrationEntry {
  id: string;
  spiffeId: string;
  parentId: string;
  /** Sorted and without repeats, so that equal sets compare equal. */
  selectors: Selector[];
  /** TTL in seconds of X.509-SVIDs for this entry; 0 means the server default. */
  x509SvidTtl: number;
  /** TTL in seconds of JWT-SVIDs for this entry; 0 means the server default. */
  jwtSvidTtl: number;
  federatesWith: string[];
  admin: boolean;
  downstream: boolean;
  /** Unix seconds after which the entry no longer authorizes anything; 0 = never. */
  expiresAt: number;
  dnsNames: string[];
  /** Starts at 0 and grows by one on every update, so agents can tell stale copies apart. */
  revisionNumber: number;
  storeSvid: boolean;
  hint: string;
  /** Unix seconds when the entry was created. */
  createdAt: number;
}

/** The fields a caller supplies to create an entry; `id` may be empty to get a random UUID. */
export type NewRegistrationEntry = Omit<RegistrationEntry, "revisionNumber" | "createdAt">;

/**
 * Builds a new entry from the fields that identify it, with every other field at its
 * default (no TTL override, no federation, not admin or downstream, no expiry).
 */
export function newRegistrationEntry(
  fields: Pick<NewRegistrationEntry, "spiffeId" | "parentId" | "selectors"> & Partial<NewRegistrationEntry>,
): NewRegistrationEntry {
  return {
    id: "",
    x509SvidTtl: 0,
    jwtSvidTtl: 0,
    federatesWith: [],
    admin: false,
    downstream: false,
    expiresAt: 0,
    dnsNames: [],
    storeSvid: false,
    hint: "",
    ...fields,
  };
}

/** Flags naming the entry fields an update replaces; absent or false fields keep their value. */
export type EntryUpdateMask = Partial<Record<keyof NewRegistrationEntry, boolean>>;

/** Filters of {@link EntryStore.list}; all given filters must match. */
export interface EntryFilter {
  bySpiffeId?: string;
  byParentId?: string;
  bySelectors?: { selectors: Selector[]; match: "exact" | "subset" | "superset" | "any" };
  byHint?: string;
}

/**
 * An attested agent. SPIRE marks a banned agent by clearing both serial numbers, and so does
 * this store: `banned` is derived, never stored.
 */
export interface AttestedNode {
  spiffeId: string;
  attestationType: string;
  /** Decimal serial number of the agent SVID in use, "" when banned. */
  certSerialNumber: string;
  /** Unix seconds when that SVID expires. */
  certNotAfter: number;
  /** Decimal serial of the SVID issued by the last RenewAgent, "" when none is pending. */
  newCertSerialNumber: string;
  newCertNotAfter: number;
  canReattest: boolean;
  agentVersion: string;
}

/** An attested agent with its node selectors, as the Agent API returns it. */
export interface AttestedNodeWithSelectors extends AttestedNode {
  banned: boolean;
  selectors: Selector[];
}

/** A join token: a single-use attestation credential. */
export interface JoinToken {
  token: string;
  /** Unix seconds after which the token is refused. */
  expiresAt: number;
}

/** A JWT signing key published in a bundle. */
export interface JwtAuthority {
  /** PKIX (SubjectPublicKeyInfo) DER. */
  publicKey: Buffer;
  keyId: string;
  /** Unix seconds; 0 = no expiry. */
  expiresAt: number;
  tainted: boolean;
}

/** A trust bundle: the roots (and JWT keys) of one trust domain. */
export interface Bundle {
  /** Bare trust domain name. */
  trustDomain: string;
  /** DER root certificates. */
  x509Authorities: Buffer[];
  jwtAuthorities: JwtAuthority[];
  /** Seconds; 0 = unset. */
  refreshHint: number;
  /** Grows by one on every change of the bundle. */
  sequenceNumber: number;
}

/** Whether a CA in the CA journal signs now, is published ahead of use, or is retired. */
export type CaSlotStatus = "active" | "prepared" | "old";

/** One of the server CA's two key slots (`A`, `B`), as recorded across restarts. */
export interface CaSlot {
  slot: "A" | "B";
  /** DER certificate of the CA in the slot. */
  certificate: Buffer;
  status: CaSlotStatus;
}

/**
 * One of the two JWT signing key slots (`A`, `B`), as recorded across restarts. The private
 * key lives in the KeyManager; this record carries what is published about it.
 */
export interface JwtKeySlot {
  slot: "A" | "B";
  /** The `kid` placed in the header of every token the key signs. */
  keyId: string;
  /** PKIX (SubjectPublicKeyInfo) DER of the public key. */
  publicKey: Buffer;
  /** Unix seconds when the key was made. */
  issuedAt: number;
  /** Unix seconds after which the key signs nothing and leaves the bundle. */
  notAfter: number;
  status: CaSlotStatus;
}
