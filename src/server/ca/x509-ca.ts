import { x509 } from "./x509.js";
import { EC_P256_SIGNING, generateEcP256KeyPair } from "./webcrypto.js";
import type { CryptoKey, CryptoKeyPair } from "./webcrypto.js";
import { randomSerialNumberHex } from "./serial-number.js";

/** A CA certificate with the key pair that signs for it. */
export interface X509Authority {
  certificate: x509.X509Certificate;
  keys: CryptoKeyPair;
}

/** The `ca_subject` block of the server configuration. */
export interface CaSubject {
  country: string[];
  organization: string[];
  commonName: string;
}

/** SPIRE's default CA subject: `C=US, O=SPIFFE`. */
export const DEFAULT_CA_SUBJECT: CaSubject = { country: ["US"], organization: ["SPIFFE"], commonName: "" };

/**
 * Certificates start this long before "now" so that peers whose clocks run slightly behind
 * still accept them (SPIRE backdates by 10 s as well).
 */
export const BACKDATE_MS = 10_000;

/** Parameters of {@link createRootCa}. */
export interface RootCaParams {
  trustDomain: string;
  ttlSeconds: number;
  subject: CaSubject;
  now?: Date;
  /** Reuse this key pair instead of generating one (KeyManager "disk" restores keys this way). */
  keys?: CryptoKeyPair;
}

/**
 * Creates a self-signed EC P-256 root CA for the trust domain.
 *
 * The certificate carries the trust domain's SPIFFE ID (`spiffe://<td>`) as its only URI SAN,
 * as SPIRE's CA certificates do. Its path length is 0 because it signs only leaf SVIDs.
 */
export async function createRootCa(params: RootCaParams): Promise<X509Authority> {
  const now = params.now ?? new Date();
  const keys = params.keys ?? (await generateEcP256KeyPair());
  const notBefore = new Date(now.getTime() - BACKDATE_MS);
  const notAfter = new Date(now.getTime() + params.ttlSeconds * 1000);

  const certificate = await x509.X509CertificateGenerator.createSelfSigned({
    serialNumber: randomSerialNumberHex(),
    name: toJsonName(params.subject),
    notBefore,
    notAfter,
    keys: keys as unknown as x509.X509CertificateCreateSelfSignedParams["keys"],
    signingAlgorithm: EC_P256_SIGNING,
    extensions: [
      new x509.BasicConstraintsExtension(true, 0, true),
      new x509.KeyUsagesExtension(
        x509.KeyUsageFlags.keyCertSign | x509.KeyUsageFlags.cRLSign | x509.KeyUsageFlags.digitalSignature,
        true,
      ),
      await x509.SubjectKeyIdentifierExtension.create(keys.publicKey as never),
      new x509.SubjectAlternativeNameExtension([{ type: "url", value: `spiffe://${params.trustDomain}` }]),
    ],
  });

  return { certificate, keys };
}

/** Parameters of {@link signX509Svid}. */
export interface X509SvidParams {
  /** The SPIFFE ID placed as the only URI SAN. */
  spiffeId: string;
  /** The subject public key, usually taken from a verified CSR. */
  publicKey: x509.PublicKey | CryptoKey;
  ttlSeconds: number;
  /** DNS SANs; the first also becomes the subject common name, as in SPIRE. */
  dnsNames?: string[];
  now?: Date;
}

/**
 * Signs an X.509-SVID leaf: one URI SAN, CA=false, key usage digitalSignature +
 * keyEncipherment + keyAgreement, extended key usage serverAuth + clientAuth, random
 * serial number.
 *
 * The validity ends at `now + ttl` or at the CA's own notAfter, whichever comes first,
 * because a leaf that outlives its issuer fails verification anyway.
 */
export async function signX509Svid(ca: X509Authority, params: X509SvidParams): Promise<x509.X509Certificate> {
  const now = params.now ?? new Date();
  const notBefore = new Date(now.getTime() - BACKDATE_MS);
  const requestedNotAfter = now.getTime() + params.ttlSeconds * 1000;
  const notAfter = new Date(Math.min(requestedNotAfter, ca.certificate.notAfter.getTime()));
  const dnsNames = params.dnsNames ?? [];

  const subject: x509.JsonName = [{ C: ["US"] }, { O: ["SPIRE"] }];
  const firstDnsName = dnsNames[0];
  if (firstDnsName !== undefined) subject.push({ CN: [firstDnsName] });

  const names: x509.JsonGeneralNames = [{ type: "url", value: params.spiffeId }];
  for (const dnsName of dnsNames) names.push({ type: "dns", value: dnsName });

  return x509.X509CertificateGenerator.create({
    serialNumber: randomSerialNumberHex(),
    subject,
    issuer: ca.certificate.subjectName,
    notBefore,
    notAfter,
    publicKey: params.publicKey as x509.PublicKeyType,
    signingKey: ca.keys.privateKey as unknown as x509.X509CertificateCreateWithKeyParams["signingKey"],
    signingAlgorithm: EC_P256_SIGNING,
    extensions: [
      new x509.BasicConstraintsExtension(false, undefined, true),
      new x509.KeyUsagesExtension(
        x509.KeyUsageFlags.digitalSignature | x509.KeyUsageFlags.keyEncipherment | x509.KeyUsageFlags.keyAgreement,
        true,
      ),
      new x509.ExtendedKeyUsageExtension([x509.ExtendedKeyUsage.serverAuth, x509.ExtendedKeyUsage.clientAuth]),
      await x509.SubjectKeyIdentifierExtension.create(params.publicKey as never),
      await authorityKeyIdentifier(ca),
      new x509.SubjectAlternativeNameExtension(names, false),
    ],
  });
}

/**
 * Returns the authority key identifier for SVIDs that `ca` signs: the CA certificate's own
 * subject key identifier, read from the certificate instead of hashing the CA's public key
 * again for every SVID. A CA certificate without one (made elsewhere) gets it computed.
 */
async function authorityKeyIdentifier(ca: X509Authority): Promise<x509.AuthorityKeyIdentifierExtension> {
  const subjectKeyIdentifier = ca.certificate.getExtension(x509.SubjectKeyIdentifierExtension);
  if (subjectKeyIdentifier !== null) {
    return new x509.AuthorityKeyIdentifierExtension(subjectKeyIdentifier.keyId);
  }
  return x509.AuthorityKeyIdentifierExtension.create(ca.keys.publicKey as never);
}

function toJsonName(subject: CaSubject): x509.JsonName {
  const name: x509.JsonName = [];
  if (subject.country.length > 0) name.push({ C: subject.country });
  if (subject.organization.length > 0) name.push({ O: subject.organization });
  if (subject.commonName !== "") name.push({ CN: [subject.commonName] });
  return name;
}
