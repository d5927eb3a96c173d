import { webcrypto } from "node:crypto";

/** A WebCrypto key as Node.js types it; the DOM `CryptoKey` type is not in this project's lib. */
export type CryptoKey = webcrypto.CryptoKey;

/** A WebCrypto key pair as Node.js types it. */
export type CryptoKeyPair = webcrypto.CryptoKeyPair;

/** Node's WebCrypto `SubtleCrypto`, which is also the engine ./x509.ts registers with @peculiar/x509. */
export const subtle = webcrypto.subtle;

/** ECDSA P-256 with SHA-256: the algorithm of every key and signature the server CA makes. */
export const EC_P256_SIGNING = { name: "ECDSA", namedCurve: "P-256", hash: "SHA-256" } as const;

/** Generates an extractable EC P-256 key pair (extractable so that KeyManager "disk" can store it). */
export async function generateEcP256KeyPair(): Promise<CryptoKeyPair> {
  return (await subtle.generateKey({ name: "ECDSA", namedCurve: "P-256" }, true, ["sign", "verify"])) as CryptoKeyPair;
}

/** Exports a private key as PKCS#8 DER. */
export async function exportPkcs8(key: CryptoKey): Promise<Buffer> {
  return Buffer.from(await subtle.exportKey("pkcs8", key));
}

/** Imports an EC P-256 PKCS#8 private key and derives its public key, returning both as a pair. */
export async function importEcP256Pkcs8(pkcs8: Uint8Array): Promise<CryptoKeyPair> {
  const privateKey = await subtle.importKey("pkcs8", pkcs8, { name: "ECDSA", namedCurve: "P-256" }, true, ["sign"]);

  // WebCrypto has no "public from private" call; a JWK export carries x and y, so re-import
  // it without the private part.
  const jwk = await subtle.exportKey("jwk", privateKey);
  const publicJwk = { kty: jwk.kty, crv: jwk.crv, x: jwk.x, y: jwk.y, ext: true };
  const publicKey = await subtle.importKey("jwk", publicJwk, { name: "ECDSA", namedCurve: "P-256" }, true, ["verify"]);

  return { privateKey, publicKey };
}
