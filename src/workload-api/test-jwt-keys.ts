import { createHmac, generateKeyPairSync, constants as cryptoConstants, sign } from "node:crypto";
import type { KeyObject } from "node:crypto";
import type { JwtAuthority } from "./jwt-source.js";

/** A JWT signing key made for a test, with the authority that a bundle publishes for it. */
export interface TestJwtKey {
  keyId: string;
  /** The JWS algorithm the key signs with by default. */
  alg: "ES256" | "ES384" | "RS256" | "PS256";
  privateKey: KeyObject;
  authority: JwtAuthority;
}

/** Creates a fresh key pair for `alg` (P-256, P-384 or 2048-bit RSA). */
export function createTestJwtKey(keyId: string, alg: TestJwtKey["alg"] = "ES256"): TestJwtKey {
  const pair =
    alg === "ES256" || alg === "ES384"
      ? generateKeyPairSync("ec", { namedCurve: alg === "ES256" ? "P-256" : "P-384" })
      : generateKeyPairSync("rsa", { modulusLength: 2048 });

  return {
    keyId,
    alg,
    privateKey: pair.privateKey,
    authority: {
      keyId,
      publicKeyDer: pair.publicKey.export({ format: "der", type: "spki" }),
      expiresAt: 0,
    },
  };
}

/**
 * Signs `claims` as a compact JWS. The header defaults to `{alg: key.alg, kid: key.keyId,
 * typ: "JWT"}`; `header` entries replace it, and an undefined value removes a member, so
 * tests can build malformed tokens. `alg: "none"` or no `alg` gives an empty signature and `HS256`
 * an HMAC keyed with the text "secret".
 */
export function signTestJwt(
  key: TestJwtKey,
  claims: Record<string, unknown>,
  header: Record<string, unknown> = {},
): string {
  const fullHeader: Record<string, unknown> = { alg: key.alg, kid: key.keyId, typ: "JWT", ...header };
  for (const [name, value] of Object.entries(fullHeader)) {
    if (value === undefined) delete fullHeader[name];
  }
  const signingInput = `${encodeJson(fullHeader)}.${encodeJson(claims)}`;

  return `${signingInput}.${signatureFor(String(fullHeader.alg ?? "none"), signingInput, key.privateKey).toString("base64url")}`;
}

function encodeJson(value: unknown): string {
  return Buffer.from(JSON.stringify(value), "utf8").toString("base64url");
}

function signatureFor(alg: string, signingInput: string, privateKey: KeyObject): Buffer {
  const data = Buffer.from(signingInput, "ascii");
  switch (alg) {
    case "none":
      return Buffer.alloc(0);
    case "HS256":
      return createHmac("sha256", "secret").update(data).digest();
    case "ES256":
      return sign("sha256", data, { key: privateKey, dsaEncoding: "ieee-p1363" });
    case "ES384":
      return sign("sha384", data, { key: privateKey, dsaEncoding: "ieee-p1363" });
    case "RS256":
      return sign("sha256", data, { key: privateKey, padding: cryptoConstants.RSA_PKCS1_PADDING });
    case "PS256":
      return sign("sha256", data, {
        key: privateKey,
        padding: cryptoConstants.RSA_PKCS1_PSS_PADDING,
        saltLength: cryptoConstants.RSA_PSS_SALTLEN_DIGEST,
      });
    default:
      throw new Error(`signTestJwt cannot sign with ${alg}`);
  }
}
