import type { Database } from "better-sqlite3";
import type { Bundle, JwtAuthority } from "./types.js";

/** Trust bundle storage (the server's own bundle and federated ones); see {@link createBundleStore}. */
export interface BundleStore {
  get(trustDomain: string): Bundle | undefined;
  list(): Bundle[];
  /**
   * Stores the bundle, replacing any previous one for its trust domain. The stored sequence
   * number becomes the previous one plus one, whatever the argument carries.
   */
  set(bundle: Omit<Bundle, "sequenceNumber">): Bundle;
  delete(trustDomain: string): boolean;
}

interface BundleRow {
  trust_domain: string;
  x509_authorities: string;
  jwt_authorities: string;
  refresh_hint: number;
  sequence_number: number;
}

interface StoredJwtAuthority {
  publicKey: string;
  keyId: string;
  expiresAt: number;
  tainted: boolean;
}

/** Creates the bundle store on an open database. Certificates are kept as base64 DER in JSON. */
export function createBundleStore(db: Database): BundleStore {
  const select = db.prepare("SELECT * FROM bundles WHERE trust_domain = ?");
  const selectAll = db.prepare("SELECT * FROM bundles ORDER BY trust_domain");
  const upsert = db.prepare(
    "INSERT INTO bundles (trust_domain, x509_authorities, jwt_authorities, refresh_hint, sequence_number) " +
      "VALUES (@trust_domain, @x509_authorities, @jwt_authorities, @refresh_hint, @sequence_number) " +
      "ON CONFLICT (trust_domain) DO UPDATE SET x509_authorities = excluded.x509_authorities, " +
      "jwt_authorities = excluded.jwt_authorities, refresh_hint = excluded.refresh_hint, " +
      "sequence_number = excluded.sequence_number",
  );
  const remove = db.prepare("DELETE FROM bundles WHERE trust_domain = ?");

  const set = db.transaction((bundle: Omit<Bundle, "sequenceNumber">) => {
    const previous = select.get(bundle.trustDomain) as BundleRow | undefined;
    const stored: Bundle = { ...bundle, sequenceNumber: (previous?.sequence_number ?? 0) + 1 };
    upsert.run(toRow(stored));
    return stored;
  });

  return {
    get(trustDomain) {
      const row = select.get(trustDomain) as BundleRow | undefined;
      return row === undefined ? undefined : fromRow(row);
    },
    list: () => (selectAll.all() as BundleRow[]).map(fromRow),
    set: (bundle) => set(bundle),
    delete: (trustDomain) => remove.run(trustDomain).changes > 0,
  };
}

function toRow(bundle: Bundle): BundleRow {
  const jwtAuthorities: StoredJwtAuthority[] = bundle.jwtAuthorities.map((authority) => ({
    ...authority,
    publicKey: authority.publicKey.toString("base64"),
  }));
  return {
    trust_domain: bundle.trustDomain,
    x509_authorities: JSON.stringify(bundle.x509Authorities.map((der) => der.toString("base64"))),
    jwt_authorities: JSON.stringify(jwtAuthorities),
    refresh_hint: bundle.refreshHint,
    sequence_number: bundle.sequenceNumber,
  };
}

function fromRow(row: BundleRow): Bundle {
  const jwtAuthorities: JwtAuthority[] = (JSON.parse(row.jwt_authorities) as StoredJwtAuthority[]).map((stored) => ({
    ...stored,
    publicKey: Buffer.from(stored.publicKey, "base64"),
  }));
  return {
    trustDomain: row.trust_domain,
    x509Authorities: (JSON.parse(row.x509_authorities) as string[]).map((b64) => Buffer.from(b64, "base64")),
    jwtAuthorities,
    refreshHint: row.refresh_hint,
    sequenceNumber: row.sequence_number,
  };
}
