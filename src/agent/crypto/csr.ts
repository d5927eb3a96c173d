import { sign } from "node:crypto";

import {
  derBitString,
  derElement,
  derObjectIdentifier,
  derOctetString,
  derPrintableString,
  derSequence,
  derSet,
  derSmallInteger,
  derUtf8String,
} from "./der.js";
import { privateKeyFromPkcs8, publicKeyDerFromPkcs8 } from "./ec-key.js";

const OID_COUNTRY = "2.5.4.6";
const OID_ORGANIZATION = "2.5.4.10";
const OID_EXTENSION_REQUEST = "1.2.840.113549.1.9.14";
const OID_SUBJECT_ALT_NAME = "2.5.29.17";
const OID_ECDSA_WITH_SHA256 = "1.2.840.10045.4.3.2";

/**
 * Builds a DER PKCS#10 certificate request with subject `C=US, O=SPIRE` (as SPIRE's agent
 * does; the server replaces the subject when signing), signed with ECDSA-SHA256 by
 * `privateKeyPkcs8`.
 *
 * With `spiffeId` the request carries that ID as its only URI SAN, as workload CSRs must
 * (the server checks it against the entry). Without it there is no SAN at all, which is
 * what AttestAgent and RenewAgent expect because the server picks the agent ID itself.
 * Only EC keys are supported.
 */
export function createCsr(privateKeyPkcs8: Buffer, spiffeId?: string): Buffer {
  const subject = derSequence(
    derSet(derSequence(derObjectIdentifier(OID_COUNTRY), derPrintableString("US"))),
    derSet(derSequence(derObjectIdentifier(OID_ORGANIZATION), derUtf8String("SPIRE"))),
  );

  const attributes = spiffeId === undefined ? [] : [extensionRequest(spiffeId)];
  const requestInfo = derSequence(
    derSmallInteger(0),
    subject,
    publicKeyDerFromPkcs8(privateKeyPkcs8),
    // attributes [0] IMPLICIT SET OF Attribute
    derElement(0xa0, Buffer.concat(attributes)),
  );

  const signature = sign("sha256", requestInfo, { key: privateKeyFromPkcs8(privateKeyPkcs8), dsaEncoding: "der" });
  return derSequence(requestInfo, derSequence(derObjectIdentifier(OID_ECDSA_WITH_SHA256)), derBitString(signature));
}

function extensionRequest(spiffeId: string): Buffer {
  // GeneralName uniformResourceIdentifier is [6] IMPLICIT IA5String.
  const generalNames = derSequence(derElement(0x86, Buffer.from(spiffeId, "ascii")));
  const subjectAltName = derSequence(derObjectIdentifier(OID_SUBJECT_ALT_NAME), derOctetString(generalNames));
  return derSequence(derObjectIdentifier(OID_EXTENSION_REQUEST), derSet(derSequence(subjectAltName)));
}
