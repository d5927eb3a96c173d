import { derToPem } from "../../spiffe/bundle.js";
import { exportPkcs8, generateEcP256KeyPair } from "../ca/webcrypto.js";
import { createRootCa, DEFAULT_CA_SUBJECT, signX509Svid } from "../ca/x509-ca.js";
import type { X509Authority } from "../ca/x509-ca.js";

/** An SVID in the PEM and DER forms tests hand to TLS clients and compare with. */
export interface TestSvid {
  certPem: string;
  keyPem: string;
  der: Buffer;
}

/** Creates a root CA for tests (1 h TTL). */
export function createTestCa(trustDomain = "example.org"): Promise<X509Authority> {
  return createRootCa({ trustDomain, ttlSeconds: 3600, subject: DEFAULT_CA_SUBJECT });
}

/** Issues an SVID with a new key; `now` in the past with a short TTL makes an expired one. */
export async function issueTestSvid(
  ca: X509Authority,
  spiffeId: string,
  options: { ttlSeconds?: number; now?: Date } = {},
): Promise<TestSvid> {
  const keys = await generateEcP256KeyPair();
  const certificate = await signX509Svid(ca, {
    spiffeId,
    publicKey: keys.publicKey,
    ttlSeconds: options.ttlSeconds ?? 600,
    ...(options.now === undefined ? {} : { now: options.now }),
  });
  return {
    certPem: certificate.toString("pem"),
    keyPem: derToPem(await exportPkcs8(keys.privateKey), "PRIVATE KEY"),
    der: Buffer.from(certificate.rawData),
  };
}
