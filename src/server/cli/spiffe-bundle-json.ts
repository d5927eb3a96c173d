import { createPublicKey, X509Certificate } from "node:crypto";
import type { JsonWebKey } from "node:crypto";
import type { types } from "../../proto/index.js";

/**
 * Formats a bundle in the SPIFFE trust domain bundle format: a JWK set whose X.509
 * authorities have `"use": "x509-svid"` and the certificate in `x5c`, and whose JWT
 * authorities have `"use": "jwt-svid"` and a `kid`, with `spiffe_sequence` and
 * `spiffe_refresh_hint` when set.
 */
export function formatSpiffeBundle(bundle: types.Bundle__Output): string {
  const keys: Record<string, unknown>[] = [];
  for (const authority of bundle.x509_authorities) {
    const publicKey = new X509Certificate(authority.asn1).publicKey.export({ format: "jwk" });
    keys.push({ use: "x509-svid", ...publicKey, x5c: [authority.asn1.toString("base64")] });
  }
  for (const authority of bundle.jwt_authorities) {
    const publicKey = createPublicKey({ key: authority.public_key, format: "der", type: "spki" }).export({ format: "jwk" });
    keys.push({ use: "jwt-svid", ...publicKey, kid: authority.key_id });
  }
  const document: Record<string, unknown> = { keys };
  if (bundle.sequence_number !== 0) document.spiffe_sequence = bundle.sequence_number;
  if (bundle.refresh_hint !== 0) document.spiffe_refresh_hint = bundle.refresh_hint;
  return JSON.stringify(document, null, 4);
}

/** JWK key types (RFC 7518 section 6.1 and RFC 8037) that Node.js can import. */
const KNOWN_KEY_TYPES = new Set(["EC", "RSA", "OKP"]);

interface BundleKey extends JsonWebKey {
  use?: string;
  kid?: string;
  x5c?: string[];
}

/**
 * Parses a SPIFFE trust domain bundle (JWK set) into the API form for `trustDomain`.
 * An `x509-svid` key must carry exactly one certificate in `x5c`, and a `jwt-svid` key needs
 * a `kid`. Keys with another `use` or an unknown `kty` are skipped, because the SPIFFE Trust
 * Domain and Bundle specification (sections 4.2.1 and 4.2.2) requires clients to ignore them.
 * Throws an Error naming the key at fault.
 */
export function parseSpiffeBundle(trustDomain: string, text: string): types.Bundle {
  let document: { keys?: unknown; spiffe_refresh_hint?: unknown; spiffe_sequence?: unknown };
  try {
    document = JSON.parse(text) as typeof document;
  } catch (error) {
    throw new Error(`invalid SPIFFE bundle: ${(error as Error).message}`, { cause: error });
  }
  if (!Array.isArray(document.keys)) throw new Error('invalid SPIFFE bundle: missing "keys" array');

  const bundle: types.Bundle = { trust_domain: trustDomain, x509_authorities: [], jwt_authorities: [] };
  for (const [index, key] of (document.keys as BundleKey[]).entries()) {
    if (!KNOWN_KEY_TYPES.has(key.kty ?? "")) continue;

    if (key.use === "x509-svid") {
      if (key.x5c?.length !== 1) throw new Error(`invalid SPIFFE bundle: x509-svid key ${index} must have exactly one x5c certificate`);
      bundle.x509_authorities?.push({ asn1: Buffer.from(key.x5c[0] as string, "base64") });
    } else if (key.use === "jwt-svid") {
      if (typeof key.kid !== "string" || key.kid === "") throw new Error(`invalid SPIFFE bundle: jwt-svid key ${index} has no kid`);
      const { use: _use, kid: _kid, x5c: _x5c, ...jwk } = key;
      let publicKey: Buffer;
      try {
        publicKey = createPublicKey({ key: jwk, format: "jwk" }).export({ format: "der", type: "spki" });
      } catch (error) {
        throw new Error(`invalid SPIFFE bundle: jwt-svid key ${key.kid}: ${(error as Error).message}`, { cause: error });
      }
      bundle.jwt_authorities?.push({ public_key: publicKey, key_id: key.kid });
    }
  }

  if (typeof document.spiffe_refresh_hint === "number") bundle.refresh_hint = document.spiffe_refresh_hint;
  if (typeof document.spiffe_sequence === "number") bundle.sequence_number = document.spiffe_sequence;
  return bundle;
}
