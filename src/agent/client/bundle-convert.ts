import type { types } from "../../proto/index.js";
import { parseTrustDomain } from "../../spiffe/trust-domain.js";
import type { JwtAuthority } from "../../workload-api/jwt-source.js";

/** A trust bundle's X.509 part as the agent keeps it. */
export interface X509Roots {
  /** Bare trust domain name. */
  trustDomain: string;
  /** DER root certificates. */
  roots: Buffer[];
}

/**
 * Converts a bundle from the server into its X.509 roots. Throws when the trust domain
 * name is invalid or the bundle has no X.509 authority.
 *
 * NOTE: tainted authorities are kept as roots, and SVIDs they signed are not re-minted
 * early, unlike SPIRE's agent; they are renewed at their normal half-life.
 */
export function x509RootsFromProto(bundle: types.Bundle__Output): X509Roots {
  const trustDomain = parseTrustDomain(bundle.trust_domain);
  const roots = bundle.x509_authorities.map((authority) => authority.asn1).filter((der) => der.length > 0);
  if (roots.length === 0) {
    throw new Error(`the bundle of ${trustDomain} has no X.509 authorities`);
  }
  return { trustDomain, roots };
}

/**
 * Converts a bundle's JWT authorities into the form the Workload API serves. Keys without
 * a key ID or public key are skipped, because no token could name or be checked with them.
 * Tainted keys are kept, so tokens they signed still validate until the server removes the
 * key, but the agent stops handing out such tokens (see {@link taintedJwtKeyIds}).
 */
export function jwtAuthoritiesFromProto(bundle: types.Bundle__Output): JwtAuthority[] {
  return bundle.jwt_authorities
    .filter((authority) => authority.key_id !== "" && authority.public_key.length > 0)
    .map((authority) => ({ keyId: authority.key_id, publicKeyDer: authority.public_key, expiresAt: authority.expires_at }));
}

/** Returns the key IDs of the bundle's JWT authorities that the server marked as tainted. */
export function taintedJwtKeyIds(bundle: types.Bundle__Output): string[] {
  return bundle.jwt_authorities.filter((authority) => authority.tainted && authority.key_id !== "").map((authority) => authority.key_id);
}
