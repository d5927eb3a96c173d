import { X509Certificate } from "node:crypto";

import { AsnConvert } from "@peculiar/asn1-schema";
import { Certificate } from "@peculiar/asn1-x509";

import type { SpiffeId } from "../../spiffe/spiffe-id.js";
import { spiffeIdFromCertificate, verifyX509SvidChain } from "../../spiffe/x509-svid.js";
import { formatCertificateSubject } from "./certificate-subject.js";

/** One certificate of the verified agent SVID chain, as the Debug API reports it. */
export interface ChainCertificate {
  /** SPIFFE ID from the URI SAN, or undefined when the certificate has none or several. */
  spiffeId: SpiffeId | undefined;
  /** NotAfter in whole seconds since the Unix epoch. */
  expiresAtSeconds: number;
  /** Subject as Go's pkix.Name.String() prints it. */
  subject: string;
}

/**
 * Verifies the agent SVID `chain` (DER, leaf first) against the trust domain's `roots` at
 * `now` and returns the verified path from the leaf to the root that anchors it.
 *
 * The root comes from `roots` and is listed once, also when the chain already ends with a
 * copy of it. Throws the X509SvidError of the verification when the chain does not verify.
 */
export function describeAgentSvidChain(chain: readonly Buffer[], roots: readonly Buffer[], now: Date): ChainCertificate[] {
  verifyX509SvidChain(chain, roots, now);

  const last = chain[chain.length - 1] as Buffer;
  const endsWithRoot = chain.length > 1 && roots.some((root) => root.equals(last));
  const path = endsWithRoot ? [...chain] : [...chain, findIssuingRoot(last, roots)];

  return path.map(describeCertificate);
}

/** Returns the root that signed `certificate`. verifyX509SvidChain has already checked that one exists. */
function findIssuingRoot(certificate: Buffer, roots: readonly Buffer[]): Buffer {
  const child = new X509Certificate(certificate);
  const root = roots.find((der) => {
    const candidate = new X509Certificate(der);
    return child.checkIssued(candidate) && child.verify(candidate.publicKey);
  });

  if (root === undefined) {
    throw new Error(`no bundle authority signed the last certificate of the agent SVID chain (issuer ${child.issuer.replace(/\n/g, ", ")})`);
  }
  return root;
}

function describeCertificate(der: Buffer): ChainCertificate {
  const notAfter = AsnConvert.parse(der, Certificate).tbsCertificate.validity.notAfter.getTime();

  return {
    spiffeId: spiffeIdOrUndefined(der),
    expiresAtSeconds: Math.floor(notAfter.getTime() / 1000),
    subject: formatCertificateSubject(der),
  };
}

function spiffeIdOrUndefined(der: Buffer): SpiffeId | undefined {
  try {
    return spiffeIdFromCertificate(der);
  } catch {
    // A CA certificate may lack a SPIFFE ID, and SPIRE then leaves the `id` field unset.
    return undefined;
  }
}
