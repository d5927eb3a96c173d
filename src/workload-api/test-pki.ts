import { webcrypto } from "node:crypto";
import { x509 } from "../common/x509.js";

const EC_KEY = { name: "ECDSA", namedCurve: "P-256" } as const;
const SIGNING = { name: "ECDSA", hash: "SHA-256" } as const;

/** A certificate authority made for a test: its certificate (DER) and signing key. */
export interface TestAuthority {
  certificateDer: Buffer;
  certificate: x509.X509Certificate;
  privateKey: webcrypto.CryptoKey;
}

/** An X.509-SVID made for a test: DER chain (leaf first) and PKCS#8 DER key. */
export interface TestSvid {
  certChain: Buffer[];
  privateKeyPkcs8: Buffer;
  notAfter: Date;
}

/** Creates a self-signed root CA for `trustDomain`. */
export async function createTestRootAuthority(trustDomain: string): Promise<TestAuthority> {
  const keys = await webcrypto.subtle.generateKey(EC_KEY, true, ["sign", "verify"]);
  const certificate = await x509.X509CertificateGenerator.createSelfSigned({
    name: `CN=${trustDomain} root, O=Tessera test`,
    keys: keys as never,
    signingAlgorithm: SIGNING,
    notBefore: new Date(Date.now() - 60_000),
    notAfter: new Date(Date.now() + 24 * 3600_000),
    extensions: authorityExtensions(trustDomain),
  });

  return { certificate, certificateDer: Buffer.from(certificate.rawData), privateKey: keys.privateKey };
}

/** Creates an intermediate CA signed by `issuer`. */
export async function createTestIntermediateAuthority(issuer: TestAuthority, trustDomain: string): Promise<TestAuthority> {
  const keys = await webcrypto.subtle.generateKey(EC_KEY, true, ["sign", "verify"]);
  const certificate = await x509.X509CertificateGenerator.create({
    subject: `CN=${trustDomain} intermediate, O=Tessera test`,
    issuer: issuer.certificate.subject,
    publicKey: keys.publicKey as never,
    signingKey: issuer.privateKey as never,
    signingAlgorithm: SIGNING,
    notBefore: new Date(Date.now() - 60_000),
    notAfter: new Date(Date.now() + 12 * 3600_000),
    extensions: authorityExtensions(trustDomain),
  });

  return { certificate, certificateDer: Buffer.from(certificate.rawData), privateKey: keys.privateKey };
}

/**
 * Creates an X.509-SVID for `spiffeId` signed by `issuer`; the chain contains the leaf and
 * then the issuer and `extraChain` certificates, as an agent receives it from its server.
 */
export async function createTestSvid(
  issuer: TestAuthority,
  spiffeId: string,
  extraChain: readonly Buffer[] = [],
): Promise<TestSvid> {
  const keys = await webcrypto.subtle.generateKey(EC_KEY, true, ["sign", "verify"]);
  const notAfter = new Date(Date.now() + 3600_000);
  const certificate = await x509.X509CertificateGenerator.create({
    subject: "O=SPIRE, C=US",
    issuer: issuer.certificate.subject,
    publicKey: keys.publicKey as never,
    signingKey: issuer.privateKey as never,
    signingAlgorithm: SIGNING,
    notBefore: new Date(Date.now() - 60_000),
    notAfter,
    extensions: [
      new x509.BasicConstraintsExtension(false, undefined, true),
      new x509.KeyUsagesExtension(x509.KeyUsageFlags.digitalSignature | x509.KeyUsageFlags.keyEncipherment, true),
      new x509.ExtendedKeyUsageExtension([x509.ExtendedKeyUsage.serverAuth, x509.ExtendedKeyUsage.clientAuth]),
      new x509.SubjectAlternativeNameExtension([{ type: "url", value: spiffeId }], false),
    ],
  });
  const pkcs8 = await webcrypto.subtle.exportKey("pkcs8", keys.privateKey);

  return {
    certChain: [Buffer.from(certificate.rawData), issuer.certificateDer, ...extraChain],
    privateKeyPkcs8: Buffer.from(pkcs8),
    notAfter,
  };
}

function authorityExtensions(trustDomain: string): x509.Extension[] {
  return [
    new x509.BasicConstraintsExtension(true, undefined, true),
    new x509.KeyUsagesExtension(x509.KeyUsageFlags.keyCertSign | x509.KeyUsageFlags.cRLSign, true),
    new x509.SubjectAlternativeNameExtension([{ type: "url", value: `spiffe://${trustDomain}` }], false),
  ];
}
