/**
 * X.509-SVID checks per the X509-SVID specification (spiffe/spiffe, standards/X509-SVID.md):
 * the leaf and signing certificate rules of sections 2 to 4 and the chain verification of
 * section 5, on DER certificates.
 *
 * @peculiar/asn1-x509 decodes the extensions, and Node's crypto.X509Certificate checks the
 * signatures and issuer names (through OpenSSL), so the checks here stay synchronous.
 * @peculiar/x509 itself is not used because it needs a Reflect metadata polyfill at import.
 */
import { X509Certificate as NodeCertificate } from "node:crypto";
import { AsnConvert } from "@peculiar/asn1-schema";
import {
  BasicConstraints,
  Certificate,
  id_ce_basicConstraints,
  id_ce_keyUsage,
  id_ce_subjectAltName,
  KeyUsage,
  KeyUsageFlags,
  SubjectAlternativeName,
} from "@peculiar/asn1-x509";

import { parseSpiffeId, SpiffeIdError, formatSpiffeId } from "./spiffe-id.js";
import type { SpiffeId } from "./spiffe-id.js";

/** Raised when a certificate breaks an X.509-SVID rule or a chain does not verify. */
export class X509SvidError extends Error {
  override readonly name = "X509SvidError";
}

const OID_NAME_CONSTRAINTS = "2.5.29.30";

/**
 * Critical extensions that these checks understand. RFC 5280 requires rejecting a
 * certificate with any other critical extension. Name constraints are not in the list
 * because they are not enforced here.
 */
const UNDERSTOOD_CRITICAL_EXTENSIONS = new Set([
  id_ce_basicConstraints,
  id_ce_keyUsage,
  id_ce_subjectAltName,
  "2.5.29.37", // extended key usage
  "2.5.29.14", // subject key identifier
  "2.5.29.35", // authority key identifier
]);

/** The parts of a certificate that the X.509-SVID rules look at. */
interface ParsedCertificate {
  label: string;
  der: Buffer;
  node: NodeCertificate;
  notBefore: Date;
  notAfter: Date;
  extensions: Array<{ oid: string; critical: boolean }>;
  /** Undefined when the basic constraints extension is absent. */
  basicConstraints: { ca: boolean; pathLength: number | undefined } | undefined;
  /** KeyUsageFlags bits; undefined when the key usage extension is absent. */
  keyUsage: number | undefined;
  uris: string[];
}

/**
 * Checks the leaf rules of an X.509-SVID and returns its SPIFFE ID: exactly one URI SAN
 * holding a valid SPIFFE ID with a non-root path, basic constraints CA=false (or absent),
 * and a key usage extension with digitalSignature and without keyCertSign or cRLSign.
 * Does not check the signature or validity period: use {@link verifyX509SvidChain}.
 */
export function validateX509SvidLeaf(der: Uint8Array): SpiffeId {
  return checkLeaf(parseCertificate(der, "certificate 0 (leaf)"));
}

/**
 * Checks the signing certificate rules: basic constraints CA=true, key usage with
 * keyCertSign, and, when it has a SPIFFE ID, that the ID has no path.
 */
export function validateX509SigningCertificate(der: Uint8Array, label = "signing certificate"): void {
  checkSigningCertificate(parseCertificate(der, label));
}

/**
 * Returns the SPIFFE ID in a certificate's single URI SAN, without the other leaf rules.
 * Throws {@link X509SvidError} when there is no URI SAN, more than one, or it is invalid.
 */
export function spiffeIdFromCertificate(der: Uint8Array): SpiffeId {
  return readSpiffeId(parseCertificate(der, "certificate"));
}

/**
 * Verifies an X.509-SVID chain against a bundle's X.509 authorities and returns the leaf's
 * SPIFFE ID.
 *
 * `chain` is leaf first, and each certificate is followed by its issuer, as the Workload
 * API sends it. The last one must be signed by one of `roots` or be a byte-identical copy
 * of one of them. Every certificate on the path, the root included, must be within its validity
 * period at `now`, follow the leaf or signing certificate rules, and respect path length
 * constraints.
 *
 * NOTE: unlike Go's x509.Verify, no path building is attempted, so an out-of-order chain
 * is rejected. Certificates with a name constraints extension are rejected, because the
 * constraints are not enforced here.
 */
export function verifyX509SvidChain(chain: readonly Uint8Array[], roots: readonly Uint8Array[], now: Date = new Date()): SpiffeId {
  if (chain.length === 0) {
    throw new X509SvidError("failed to verify X.509-SVID: the certificate chain is empty");
  }
  if (roots.length === 0) {
    throw new X509SvidError("failed to verify X.509-SVID: the bundle has no X.509 authorities");
  }

  const certificates = chain.map((der, index) => parseCertificate(der, chainLabel(index)));
  const authorities = roots.map((der, index) => parseCertificate(der, `bundle authority ${index}`));
  const leaf = certificates[0] as ParsedCertificate;

  const spiffeId = checkLeaf(leaf);
  const describeFailure = (reason: string): X509SvidError =>
    new X509SvidError(`failed to verify X.509-SVID ${formatSpiffeId(spiffeId)}: ${reason}`);

  // A chain that ends with a copy of a bundle authority is anchored by that copy.
  const last = certificates[certificates.length - 1] as ParsedCertificate;
  const anchoredByCopy = certificates.length > 1 && authorities.some((root) => root.der.equals(last.der));
  const path = anchoredByCopy ? certificates.slice(0, -1) : certificates;

  for (const [index, certificate] of path.entries()) {
    wrap(describeFailure, () => {
      checkValidity(certificate, now);
      if (index > 0) {
        checkSigningCertificate(certificate);
        checkPathLength(certificate, index - 1);
      }
    });
  }

  for (let index = 0; index + 1 < path.length; index++) {
    const child = path[index] as ParsedCertificate;
    const parent = path[index + 1] as ParsedCertificate;
    if (!isIssuedBy(child, parent)) {
      throw describeFailure(`${child.label} was not signed by ${parent.label} (${parent.node.subject.replace(/\n/g, ", ")})`);
    }
  }

  const top = path[path.length - 1] as ParsedCertificate;
  const root = authorities.find((authority) => isIssuedBy(top, authority));
  if (root === undefined) {
    throw describeFailure(
      `${top.label} (issuer ${top.node.issuer.replace(/\n/g, ", ")}) was not signed by any of the ` +
        `${authorities.length} X.509 authorities in the bundle`,
    );
  }

  wrap(describeFailure, () => {
    checkValidity(root, now);
    checkSigningCertificate(root);
    checkPathLength(root, path.length - 1);
  });

  return spiffeId;
}

function chainLabel(index: number): string {
  return index === 0 ? "certificate 0 (leaf)" : `certificate ${index} (intermediate)`;
}

function parseCertificate(der: Uint8Array, label: string): ParsedCertificate {
  const bytes = Buffer.from(der.buffer, der.byteOffset, der.byteLength);
  try {
    const node = new NodeCertificate(bytes);
    const tbs = AsnConvert.parse(bytes, Certificate).tbsCertificate;
    const parsed: ParsedCertificate = {
      label,
      der: bytes,
      node,
      notBefore: tbs.validity.notBefore.getTime(),
      notAfter: tbs.validity.notAfter.getTime(),
      extensions: [],
      basicConstraints: undefined,
      keyUsage: undefined,
      uris: [],
    };

    for (const extension of tbs.extensions ?? []) {
      if (parsed.extensions.some((seen) => seen.oid === extension.extnID)) {
        throw new Error(`extension ${extension.extnID} appears more than once`);
      }
      parsed.extensions.push({ oid: extension.extnID, critical: extension.critical });
      readExtension(parsed, extension.extnID, extension.extnValue.buffer);
    }
    return parsed;
  } catch (error) {
    throw new X509SvidError(`failed to parse ${label} as an X.509 certificate: ${(error as Error).message}`);
  }
}

function readExtension(parsed: ParsedCertificate, oid: string, value: ArrayBuffer): void {
  switch (oid) {
    case id_ce_basicConstraints: {
      const constraints = AsnConvert.parse(value, BasicConstraints);
      parsed.basicConstraints = { ca: constraints.cA, pathLength: constraints.pathLenConstraint };
      return;
    }
    case id_ce_keyUsage:
      parsed.keyUsage = AsnConvert.parse(value, KeyUsage).toNumber();
      return;
    case id_ce_subjectAltName:
      for (const name of AsnConvert.parse(value, SubjectAlternativeName)) {
        if (name.uniformResourceIdentifier !== undefined) {
          parsed.uris.push(name.uniformResourceIdentifier);
        }
      }
      return;
  }
}

function checkLeaf(certificate: ParsedCertificate): SpiffeId {
  const { label } = certificate;
  checkCriticalExtensions(certificate);

  const spiffeId = readSpiffeId(certificate);
  if (spiffeId.path === "") {
    throw new X509SvidError(`${label}: the SPIFFE ID ${formatSpiffeId(spiffeId)} has no path, which a leaf X.509-SVID requires`);
  }

  if (certificate.basicConstraints?.ca === true) {
    throw new X509SvidError(`${label}: a leaf X.509-SVID must have basic constraints CA=false, but CA=true`);
  }

  const keyUsage = certificate.keyUsage;
  if (keyUsage === undefined) {
    throw new X509SvidError(`${label}: the key usage extension is missing; a leaf X.509-SVID needs digitalSignature`);
  }
  if ((keyUsage & KeyUsageFlags.digitalSignature) === 0) {
    throw new X509SvidError(`${label}: the key usage lacks digitalSignature, which a leaf X.509-SVID requires`);
  }
  if ((keyUsage & KeyUsageFlags.keyCertSign) !== 0) {
    throw new X509SvidError(`${label}: the key usage has keyCertSign, which a leaf X.509-SVID must not have`);
  }
  if ((keyUsage & KeyUsageFlags.cRLSign) !== 0) {
    throw new X509SvidError(`${label}: the key usage has cRLSign, which a leaf X.509-SVID must not have`);
  }

  return spiffeId;
}

function checkSigningCertificate(certificate: ParsedCertificate): void {
  const { label } = certificate;
  checkCriticalExtensions(certificate);

  if (certificate.basicConstraints?.ca !== true) {
    throw new X509SvidError(`${label}: a signing certificate must have basic constraints CA=true`);
  }

  const keyUsage = certificate.keyUsage ?? 0;
  if ((keyUsage & KeyUsageFlags.keyCertSign) === 0) {
    throw new X509SvidError(`${label}: a signing certificate must have keyCertSign in its key usage`);
  }

  // A signing certificate need not carry a SPIFFE ID, but when it does, the ID has no path.
  for (const uri of certificate.uris) {
    if (!uri.startsWith("spiffe://")) {
      continue;
    }
    const id = parseSpiffeIdFor(certificate, uri);
    if (id.path !== "") {
      throw new X509SvidError(`${label}: the signing certificate's SPIFFE ID ${uri} has a path, which is not allowed`);
    }
  }
}

function checkCriticalExtensions(certificate: ParsedCertificate): void {
  for (const extension of certificate.extensions) {
    if (extension.oid === OID_NAME_CONSTRAINTS) {
      throw new X509SvidError(`${certificate.label}: name constraints are not supported by this verifier`);
    }
    if (extension.critical && !UNDERSTOOD_CRITICAL_EXTENSIONS.has(extension.oid)) {
      throw new X509SvidError(`${certificate.label}: unsupported critical extension ${extension.oid}`);
    }
  }
}

function checkValidity(certificate: ParsedCertificate, now: Date): void {
  const { notBefore, notAfter } = certificate;
  if (now < notBefore) {
    throw new X509SvidError(`${certificate.label} is not valid before ${notBefore.toISOString()} (now ${now.toISOString()})`);
  }
  if (now > notAfter) {
    throw new X509SvidError(`${certificate.label} expired at ${notAfter.toISOString()} (now ${now.toISOString()})`);
  }
}

/** Checks a CA's pathLenConstraint against the number of intermediates below it. */
function checkPathLength(certificate: ParsedCertificate, intermediatesBelow: number): void {
  const pathLength = certificate.basicConstraints?.pathLength;
  if (pathLength !== undefined && intermediatesBelow > pathLength) {
    throw new X509SvidError(
      `${certificate.label} allows ${pathLength} intermediate CAs below it (pathLenConstraint) but the chain has ${intermediatesBelow}`,
    );
  }
}

function isIssuedBy(child: ParsedCertificate, parent: ParsedCertificate): boolean {
  // checkIssued compares names and key identifiers; verify checks the signature itself.
  return child.node.checkIssued(parent.node) && child.node.verify(parent.node.publicKey);
}

function readSpiffeId(certificate: ParsedCertificate): SpiffeId {
  const { uris } = certificate;
  if (uris.length === 0) {
    throw new X509SvidError(`${certificate.label}: there is no URI subject alternative name holding a SPIFFE ID`);
  }
  if (uris.length > 1) {
    throw new X509SvidError(
      `${certificate.label}: an X.509-SVID must have exactly one URI subject alternative name, found ${uris.length}: ${uris.join(", ")}`,
    );
  }
  return parseSpiffeIdFor(certificate, uris[0] as string);
}

function parseSpiffeIdFor(certificate: ParsedCertificate, uri: string): SpiffeId {
  try {
    return parseSpiffeId(uri);
  } catch (error) {
    if (error instanceof SpiffeIdError) {
      throw new X509SvidError(`${certificate.label}: ${error.message}`);
    }
    throw error;
  }
}

function wrap(describeFailure: (reason: string) => X509SvidError, check: () => void): void {
  try {
    check();
  } catch (error) {
    if (error instanceof X509SvidError) {
      throw describeFailure(error.message);
    }
    throw error;
  }
}
