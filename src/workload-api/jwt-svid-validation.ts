import { createPublicKey, constants as cryptoConstants, verify } from "node:crypto";
import type { KeyObject } from "node:crypto";
import { parseSpiffeId } from "../spiffe/spiffe-id.js";
import type { SpiffeId } from "../spiffe/spiffe-id.js";

/**
 * Clock skew accepted on `exp`, `nbf` and `iat`, in seconds. It equals go-jose's
 * `jwt.DefaultLeeway` (one minute), which SPIRE's validator uses.
 */
export const JWT_CLOCK_LEEWAY_SECONDS = 60;

/** Raised when a token is not a valid JWT-SVID; the message is the reason, fit to send to the caller. */
export class JwtSvidValidationError extends Error {
  override readonly name = "JwtSvidValidationError";
}

/** Returns the public key with `keyId` of `trustDomain` (bare name), or undefined when the bundles have none. */
export type JwtKeyLookup = (trustDomain: string, keyId: string) => KeyObject | undefined;

/** A JWT-SVID that passed {@link validateJwtSvid}. */
export interface ValidatedJwtSvid {
  spiffeId: SpiffeId;
  /** Every claim of the payload, as parsed from JSON. */
  claims: Record<string, unknown>;
}

interface AlgorithmRule {
  hash: string;
  keyType: "ec" | "rsa";
  /** Curve name as KeyObject.asymmetricKeyDetails reports it, for ECDSA. */
  namedCurve?: string;
  pss?: boolean;
}

// Only the JWS algorithms that the JWT-SVID specification allows (RFC 7518 sections 3.3
// to 3.5). `none` and the HMAC algorithms are absent, so they are rejected.
const ALGORITHMS: Readonly<Record<string, AlgorithmRule>> = {
  RS256: { hash: "sha256", keyType: "rsa" },
  RS384: { hash: "sha384", keyType: "rsa" },
  RS512: { hash: "sha512", keyType: "rsa" },
  PS256: { hash: "sha256", keyType: "rsa", pss: true },
  PS384: { hash: "sha384", keyType: "rsa", pss: true },
  PS512: { hash: "sha512", keyType: "rsa", pss: true },
  ES256: { hash: "sha256", keyType: "ec", namedCurve: "prime256v1" },
  ES384: { hash: "sha384", keyType: "ec", namedCurve: "secp384r1" },
  ES512: { hash: "sha512", keyType: "ec", namedCurve: "secp521r1" },
};

/**
 * Validates a JWT-SVID in JWS compact serialization, as the JWT-SVID specification and
 * SPIRE's validator require. The header needs an allowed `alg`, a `kid`, no `crit`, and a
 * `typ` of JWT or JOSE when present. The payload needs a `sub` that is a SPIFFE ID, an
 * `exp` not in the past, `nbf` and `iat` not in the future, and an `aud` that contains
 * `audience`. The signature must verify with the key that `lookupKey` finds for the
 * trust domain of `sub` and the `kid`. {@link JWT_CLOCK_LEEWAY_SECONDS} of clock skew is
 * accepted.
 *
 * Throws {@link JwtSvidValidationError} with the first reason found. `nowSeconds` is Unix time.
 */
export function validateJwtSvid(
  token: string,
  audience: string,
  lookupKey: JwtKeyLookup,
  nowSeconds = Date.now() / 1000,
): ValidatedJwtSvid {
  const parts = token.split(".");
  if (parts.length !== 3) {
    fail(`the token is not in JWS compact serialization: expected 3 parts separated by ".", found ${parts.length}`);
  }
  const [encodedHeader, encodedPayload, encodedSignature] = parts as [string, string, string];

  const header = decodeJsonObject(encodedHeader, "header");
  const rule = checkHeader(header);
  const keyId = header.kid as string;

  const claims = decodeJsonObject(encodedPayload, "payload");
  const spiffeId = readSubject(claims);
  if (claims.exp === undefined) {
    fail("the token has no exp claim");
  }

  const key = lookupKey(spiffeId.trustDomain, keyId);
  if (key === undefined) {
    fail(`no JWT authority with key ID ${JSON.stringify(keyId)} in the bundle of trust domain ${JSON.stringify(spiffeId.trustDomain)}`);
  }
  checkSignature(`${encodedHeader}.${encodedPayload}`, decodeBase64Url(encodedSignature, "signature"), key, rule, header.alg as string);

  checkTimes(claims, nowSeconds);
  checkAudience(claims.aud, audience);

  return { spiffeId, claims };
}

function fail(reason: string): never {
  throw new JwtSvidValidationError(reason);
}

function decodeBase64Url(text: string, part: string): Buffer {
  if (!/^[A-Za-z0-9_-]*$/.test(text)) {
    fail(`the token ${part} is not base64url-encoded`);
  }
  return Buffer.from(text, "base64url");
}

function decodeJsonObject(text: string, part: string): Record<string, unknown> {
  let value: unknown;
  try {
    value = JSON.parse(decodeBase64Url(text, part).toString("utf8"));
  } catch (error) {
    if (error instanceof JwtSvidValidationError) {
      throw error;
    }
    fail(`the token ${part} is not valid JSON: ${(error as Error).message}`);
  }
  if (typeof value !== "object" || value === null || Array.isArray(value)) {
    fail(`the token ${part} is not a JSON object`);
  }
  return value as Record<string, unknown>;
}

function checkHeader(header: Record<string, unknown>): AlgorithmRule {
  const alg = header.alg;
  if (typeof alg !== "string" || !Object.hasOwn(ALGORITHMS, alg)) {
    fail(`the token algorithm ${JSON.stringify(alg ?? null)} is not allowed: JWT-SVIDs use ES256/384/512, RS256/384/512 or PS256/384/512`);
  }
  if (header.typ !== undefined && header.typ !== "JWT" && header.typ !== "JOSE") {
    fail(`the token type ${JSON.stringify(header.typ)} is not allowed: it must be JWT or JOSE when present`);
  }
  if (header.crit !== undefined) {
    fail("the token header has critical extensions (crit), which JWT-SVIDs must not use");
  }
  if (typeof header.kid !== "string" || header.kid === "") {
    fail("the token header has no key ID (kid)");
  }
  return ALGORITHMS[alg]!;
}

function readSubject(claims: Record<string, unknown>): SpiffeId {
  if (claims.sub === undefined || claims.sub === "") {
    fail("the token has no sub claim");
  }
  if (typeof claims.sub !== "string") {
    fail("the token sub claim is not a string");
  }
  try {
    return parseSpiffeId(claims.sub);
  } catch (error) {
    fail(`the token sub claim is not a SPIFFE ID: ${(error as Error).message}`);
  }
}

function checkSignature(signingInput: string, signature: Buffer, key: KeyObject, rule: AlgorithmRule, alg: string): void {
  // The key type must match the algorithm, so a token cannot pick how its key is used.
  const keyType = key.asymmetricKeyType === "rsa-pss" ? "rsa" : key.asymmetricKeyType;
  if (keyType !== rule.keyType || (rule.namedCurve !== undefined && key.asymmetricKeyDetails?.namedCurve !== rule.namedCurve)) {
    fail(`the token algorithm ${alg} does not match the ${describeKey(key)} key of its key ID`);
  }

  const verifyKey =
    rule.keyType === "ec"
      ? { key, dsaEncoding: "ieee-p1363" as const }
      : rule.pss === true
        ? { key, padding: cryptoConstants.RSA_PKCS1_PSS_PADDING, saltLength: cryptoConstants.RSA_PSS_SALTLEN_DIGEST }
        : { key, padding: cryptoConstants.RSA_PKCS1_PADDING };

  let valid: boolean;
  try {
    valid = verify(rule.hash, Buffer.from(signingInput, "ascii"), verifyKey, signature);
  } catch (error) {
    fail(`failed to verify the token signature: ${(error as Error).message}`);
  }
  if (!valid) {
    fail("the token signature is invalid");
  }
}

function describeKey(key: KeyObject): string {
  const curve = key.asymmetricKeyDetails?.namedCurve;
  return curve === undefined ? String(key.asymmetricKeyType) : `${key.asymmetricKeyType} ${curve}`;
}

function checkTimes(claims: Record<string, unknown>, nowSeconds: number): void {
  const exp = readNumericDate(claims, "exp");
  if (exp !== undefined && nowSeconds - JWT_CLOCK_LEEWAY_SECONDS > exp) {
    fail("the token has expired");
  }
  const nbf = readNumericDate(claims, "nbf");
  if (nbf !== undefined && nowSeconds + JWT_CLOCK_LEEWAY_SECONDS < nbf) {
    fail("the token is not valid yet (nbf is in the future)");
  }
  const iat = readNumericDate(claims, "iat");
  if (iat !== undefined && nowSeconds + JWT_CLOCK_LEEWAY_SECONDS < iat) {
    fail("the token was issued in the future (iat)");
  }
}

function readNumericDate(claims: Record<string, unknown>, name: string): number | undefined {
  const value = claims[name];
  if (value === undefined) {
    return undefined;
  }
  if (typeof value !== "number" || !Number.isFinite(value)) {
    fail(`the token ${name} claim is not a number of seconds`);
  }
  return value;
}

function checkAudience(aud: unknown, expected: string): void {
  const values = typeof aud === "string" ? [aud] : aud;
  if (values === undefined || (Array.isArray(values) && values.length === 0)) {
    fail("the token has no aud claim");
  }
  if (!Array.isArray(values) || values.some((value) => typeof value !== "string")) {
    fail("the token aud claim is not a string or a list of strings");
  }
  if (!values.includes(expected)) {
    fail(`expected audience ${JSON.stringify(expected)}, but the token is for ${JSON.stringify(values)}`);
  }
}

/** Parses a JWT authority's PKIX DER public key; throws when the DER is not a public key. */
export function publicKeyFromDer(der: Buffer): KeyObject {
  return createPublicKey({ key: der, format: "der", type: "spki" });
}
