import { createPublicKey } from "node:crypto";
import type { JwtAuthority } from "./jwt-source.js";

/**
 * Encodes a trust domain's JWT authorities as the standard JWK Set that `FetchJWTBundles`
 * sends: a `keys` array with one key per authority, in the given order, each with `kid`
 * and its public parameters (`kty`, `crv`, `x`, `y` for EC, `kty`, `n`, `e` for RSA).
 * SPIRE's standard JWKS form leaves out `use`, the SPIFFE members and the X.509 roots,
 * so this does too. Members keep go-jose's order and the JSON is indented by four
 * spaces, as SPIRE writes it. An empty bundle gives `"keys": []`.
 *
 * Throws when an authority's DER is not a public key.
 */
export function marshalJwtBundle(authorities: readonly JwtAuthority[]): Buffer {
  const keys = authorities.map((authority) => {
    let jwk: Record<string, unknown>;
    try {
      jwk = createPublicKey({ key: authority.publicKeyDer, format: "der", type: "spki" }).export({ format: "jwk" });
    } catch (error) {
      throw new Error(`failed to encode JWT authority ${JSON.stringify(authority.keyId)} as a JWK: ${(error as Error).message}`);
    }
    return orderJwkMembers(jwk, authority.keyId);
  });

  return Buffer.from(JSON.stringify({ keys }, null, 4), "utf8");
}

function orderJwkMembers(jwk: Record<string, unknown>, keyId: string): Record<string, unknown> {
  if (jwk.kty === "EC") {
    return { kty: jwk.kty, kid: keyId, crv: jwk.crv, x: jwk.x, y: jwk.y };
  }
  if (jwk.kty === "RSA") {
    return { kty: jwk.kty, kid: keyId, n: jwk.n, e: jwk.e };
  }
  return { ...jwk, kid: keyId };
}
