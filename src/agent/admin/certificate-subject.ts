import { AsnConvert } from "@peculiar/asn1-schema";
import { Certificate } from "@peculiar/asn1-x509";
import type { AttributeTypeAndValue, AttributeValue, Name } from "@peculiar/asn1-x509";

import { derPrintableString, derUtf8String } from "../crypto/der.js";

/**
 * Attributes that Go's crypto/x509/pkix.Name keeps in named fields, in the order its
 * ToRDNSequence emits them (crypto/x509/pkix/pkix.go), with the short names its String method prints.
 */
const NAMED_ATTRIBUTES: ReadonlyArray<{ oid: string; name: string; single: boolean }> = [
  { oid: "2.5.4.6", name: "C", single: false },
  { oid: "2.5.4.8", name: "ST", single: false },
  { oid: "2.5.4.7", name: "L", single: false },
  { oid: "2.5.4.9", name: "STREET", single: false },
  { oid: "2.5.4.17", name: "POSTALCODE", single: false },
  { oid: "2.5.4.10", name: "O", single: false },
  { oid: "2.5.4.11", name: "OU", single: false },
  // Go keeps one CommonName and one SerialNumber: the last one in the certificate.
  { oid: "2.5.4.3", name: "CN", single: true },
  { oid: "2.5.4.5", name: "SERIALNUMBER", single: true },
];

/**
 * Formats the subject of a DER certificate as SPIRE prints it (Go's `pkix.Name.String()`),
 * e.g. `O=SPIRE,C=US` for a subject encoded as C=US, O=SPIRE.
 *
 * Go regroups the known attributes (C, ST, L, STREET, POSTALCODE, O, OU, CN, SERIALNUMBER)
 * in a fixed order and prints the sequence last to first, separated by commas, with values
 * of one attribute type joined by `+`. Other attributes come at the end as `OID=#hex`,
 * where the hex is the DER of the value as Go re-encodes it (see {@link goValueDer}).
 */
export function formatCertificateSubject(der: Uint8Array): string {
  const subject = AsnConvert.parse(der, Certificate).tbsCertificate.subject;
  return formatName(subject);
}

function formatName(name: Name): string {
  const attributes: AttributeTypeAndValue[] = name.flatMap((rdn) => [...rdn]);
  const sequence: string[][] = [];

  for (const attribute of attributes) {
    if (!NAMED_ATTRIBUTES.some((named) => named.oid === attribute.type)) {
      sequence.push([`${attribute.type}=#${goValueDer(attribute.value).toString("hex")}`]);
    }
  }

  for (const named of NAMED_ATTRIBUTES) {
    const values = attributes.filter((attribute) => attribute.type === named.oid).map((attribute) => attribute.value.toString());
    const kept = named.single ? values.slice(-1) : values;
    if (kept.length > 0) {
      sequence.push(kept.map((value) => `${named.name}=${escapeValue(value)}`));
    }
  }

  return sequence
    .reverse()
    .map((rdn) => rdn.join("+"))
    .join(",");
}

/** Characters that Go's encoder writes as an ASN.1 PrintableString. Any other character, '*' and '&' included, makes it a UTF8String. */
const GO_PRINTABLE = /^[A-Za-z0-9 '()+,\-./:=?]*$/;

/**
 * Returns the DER that Go prints for a value of an unnamed attribute. Go decodes string
 * values to plain strings and encodes them again as PrintableString when every character
 * allows it, else as UTF8String, so an IA5String e-mail address prints as UTF8String.
 * Other values keep the certificate's encoding.
 *
 * NOTE: Go cannot decode a UniversalString into a string, so its output for one is not
 * reproduced here. Such attributes print with the certificate's encoding.
 */
function goValueDer(value: AttributeValue): Buffer {
  const text = value.printableString ?? value.utf8String ?? value.ia5String ?? value.teletexString ?? value.bmpString;
  if (text === undefined) {
    return Buffer.from(AsnConvert.serialize(value));
  }

  return GO_PRINTABLE.test(text) ? derPrintableString(text) : derUtf8String(text);
}

/** Escapes a value with RFC 2253 backslashes the way Go does: special characters, a leading `#`, and a space at either end. */
function escapeValue(value: string): string {
  const characters = [...value];

  return characters
    .map((character, index) => {
      const special = ',+"\\<>;'.includes(character);
      const edgeSpace = character === " " && (index === 0 || index === characters.length - 1);
      const leadingHash = character === "#" && index === 0;
      return special || edgeSpace || leadingHash ? `\\${character}` : character;
    })
    .join("");
}
