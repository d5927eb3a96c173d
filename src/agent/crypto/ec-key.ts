import { createPrivateKey, createPublicKey, generateKeyPairSync } from "node:crypto";
import type { KeyObject, X509Certificate } from "node:crypto";

/**
 * Generates an EC P-256 private key and returns it as PKCS#8 DER, the form the agent keeps
 * keys in (in memory, in keys.json, and in Workload API responses).
 */
export function generateEcP256Pkcs8(): Buffer {
  const { privateKey } = generateKeyPairSync("ec", { namedCurve: "prime256v1" });
  return privateKey.export({ type: "pkcs8", format: "der" });
}

/** Loads PKCS#8 DER into a Node.js key object. Throws when the bytes are not a private key. */
export function privateKeyFromPkcs8(pkcs8: Buffer): KeyObject {
  return createPrivateKey({ key: pkcs8, format: "der", type: "pkcs8" });
}

/** Returns the PKCS#8 PEM text of a private key, as Node's TLS layer takes it. */
export function pkcs8ToPem(pkcs8: Buffer): string {
  return privateKeyFromPkcs8(pkcs8).export({ type: "pkcs8", format: "pem" }).toString();
}

/** Returns the SubjectPublicKeyInfo DER of the public half of a PKCS#8 private key. */
export function publicKeyDerFromPkcs8(pkcs8: Buffer): Buffer {
  return createPublicKey(privateKeyFromPkcs8(pkcs8)).export({ type: "spki", format: "der" });
}

/** Tells whether `certificate` certifies the public half of the PKCS#8 private key. */
export function certificateMatchesKey(certificate: X509Certificate, privateKeyPkcs8: Buffer): boolean {
  const certified = certificate.publicKey.export({ type: "spki", format: "der" });
  return certified.equals(publicKeyDerFromPkcs8(privateKeyPkcs8));
}
