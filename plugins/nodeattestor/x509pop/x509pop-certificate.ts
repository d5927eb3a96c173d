import { X509Certificate } from "node:crypto";
import { AsnConvert } from "@peculiar/asn1-schema";
import {
  BasicConstraints,
  Certificate,
  id_ce_basicConstraints,
  id_ce_keyUsage,
  id_ce_subjectAltName,
  KeyUsage,
  Name,
  SubjectAlternativeName,
} from "@peculiar/asn1-x509";

import { X509popError } from "./x509pop-protocol.js";

/** Object identifier of the X.520 commonName attribute. */
const OID_COMMON_NAME = "2.5.4.3";

/** The parts of a certificate the x509pop server plugin reads. */
export interface X509popCertificate {
  /** "leaf" or "intermediate 2", for messages. */
  label: string;
  der: Buffer;
  node: X509Certificate;
  notBefore: Date;
  notAfter: Date;
  /** Undefined when the basic constraints extension is absent. */
  basicConstraints: { ca: boolean; pathLength: number | undefined } | undefined;
  /** KeyUsageFlags bits; undefined when the key usage extension is absent. */
  keyUsage: number | undefined;
  /** Object identifiers of the extensions marked critical. */
  criticalExtensions: string[];
  /** URI subject alternative names, as written in the certificate. */
  uris: string[];
  /** The last common name of the subject, "" when there is none (as Go's pkix.Name reads it). */
  commonName: string;
  /** Serial number as lowercase hex with an even number of digits, as SPIRE's serialnumber selector. */
  serialNumberHex: string;
}

/** Parses a DER certificate. Throws {@link X509popError} naming `label` when it is not one. */
export function parseX509popCertificate(der: Buffer, label: string): X509popCertificate {
  try {
    const node = new X509Certificate(der);
    const tbs = AsnConvert.parse(der, Certificate).tbsCertificate;
    const certificate: X509popCertificate = {
      label,
      der,
      node,
      notBefore: tbs.validity.notBefore.getTime(),
      notAfter: tbs.validity.notAfter.getTime(),
      basicConstraints: undefined,
      keyUsage: undefined,
      criticalExtensions: [],
      uris: [],
      commonName: lastCommonName(tbs.subject),
      serialNumberHex: unsignedHex(Buffer.from(tbs.serialNumber)),
    };

    for (const extension of tbs.extensions ?? []) {
      if (extension.critical) {
        certificate.criticalExtensions.push(extension.extnID);
      }
      readExtension(certificate, extension.extnID, extension.extnValue.buffer);
    }
    return certificate;
  } catch (error) {
    throw new X509popError(`failed to parse the ${label} certificate: ${(error as Error).message}`);
  }
}

function readExtension(certificate: X509popCertificate, oid: string, value: ArrayBuffer): void {
  if (oid === id_ce_basicConstraints) {
    const constraints = AsnConvert.parse(value, BasicConstraints);
    certificate.basicConstraints = { ca: constraints.cA, pathLength: constraints.pathLenConstraint };
  } else if (oid === id_ce_keyUsage) {
    certificate.keyUsage = AsnConvert.parse(value, KeyUsage).toNumber();
  } else if (oid === id_ce_subjectAltName) {
    for (const name of AsnConvert.parse(value, SubjectAlternativeName)) {
      if (name.uniformResourceIdentifier !== undefined) {
        certificate.uris.push(name.uniformResourceIdentifier);
      }
    }
  }
}

function lastCommonName(subject: Name): string {
  let commonName = "";
  for (const relativeName of subject) {
    for (const attribute of relativeName) {
      if (attribute.type === OID_COMMON_NAME) {
        commonName = attribute.value.toString();
      }
    }
  }
  return commonName;
}

/** Hex of an unsigned big-endian integer without leading zero bytes; "00" for zero. */
function unsignedHex(bytes: Buffer): string {
  let start = 0;
  while (start < bytes.length - 1 && bytes[start] === 0) {
    start++;
  }
  return bytes.subarray(start).toString("hex") || "00";
}
