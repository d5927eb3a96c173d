import { randomInt, sign } from "node:crypto";
import type { KeyObject } from "node:crypto";

/** An EC P-256 key that signs JWT-SVIDs, with the `kid` that names it in the bundle. */
export interface JwtSigningKey {
  keyId: string;
  privateKey: KeyObject;
  /** PKIX (SubjectPublicKeyInfo) DER of the public key, as published in the bundle. */
  publicKey: Buffer;
  /** The key signs no token that outlives this time. */
  notAfter: Date;
}

/** Parameters of {@link signJwtSvid}. */
export interface JwtSvidParams {
  /** The SPIFFE ID placed in `sub`. */
  spiffeId: string;
  /** Values of `aud`; empty strings are dropped, and at least one value must remain. */
  audience: readonly string[];
  ttlSeconds: number;
  now?: Date;
}

/** A signed JWT-SVID with the times of its `iat` and `exp` claims, in Unix seconds. */
export interface SignedJwtSvid {
  token: string;
  issuedAt: number;
  expiresAt: number;
}

const KEY_ID_ALPHABET = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789";

/** Length of generated key IDs; SPIRE's JWT key IDs are 32 letters and digits as well. */
const KEY_ID_LENGTH = 32;

/** Generates a random key ID of 32 letters and digits for a new JWT signing key. */
export function newJwtKeyId(): string {
  let keyId = "";
  for (let index = 0; index < KEY_ID_LENGTH; index++) keyId += KEY_ID_ALPHABET.charAt(randomInt(KEY_ID_ALPHABET.length));
  return keyId;
}

/**
 * Signs a JWT-SVID as a JWS compact token with the header `{"alg":"ES256","kid":...,"typ":"JWT"}`
 * and the claims `sub`, `aud`, `exp` and `iat`.
 *
 * `aud` is a plain string when there is one audience and an array otherwise, as SPIRE's
 * go-jose encoder writes it; verifiers must accept both forms (RFC 7519 section 4.1.3).
 * `exp` is `now + ttl`, cut to the key's notAfter so that no token outlives the key that
 * verifies it. Throws when no audience remains or the key has expired.
 */
export function signJwtSvid(key: JwtSigningKey, params: JwtSvidParams): SignedJwtSvid {
  const now = params.now ?? new Date();
  const audience = params.audience.filter((value) => value !== "");
  if (audience.length === 0) throw new Error("at least one audience is required");

  const issuedAt = Math.floor(now.getTime() / 1000);
  const expiresAt = Math.min(issuedAt + params.ttlSeconds, Math.floor(key.notAfter.getTime() / 1000));
  if (expiresAt <= issuedAt) {
    throw new Error(`JWT signing key ${key.keyId} expired at ${key.notAfter.toISOString()}`);
  }

  const header = { alg: "ES256", kid: key.keyId, typ: "JWT" };
  const claims = {
    aud: audience.length === 1 ? audience[0] : audience,
    exp: expiresAt,
    iat: issuedAt,
    sub: params.spiffeId,
  };
  const signingInput = `${base64Url(JSON.stringify(header))}.${base64Url(JSON.stringify(claims))}`;

  // JWS wants the raw r || s form (RFC 7518 section 3.4), not the DER that Node makes by default.
  const signature = sign("sha256", Buffer.from(signingInput), { key: key.privateKey, dsaEncoding: "ieee-p1363" });
  return { token: `${signingInput}.${signature.toString("base64url")}`, issuedAt, expiresAt };
}

function base64Url(text: string): string {
  return Buffer.from(text).toString("base64url");
}
