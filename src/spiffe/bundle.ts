/**
 * X.509 bundles and the byte formats they travel in: PEM files (trust_bundle_path, the
 * `bundle.0.pem` files written by `api fetch -write`) and the concatenated DER that the
 * Workload API uses for `x509_svid`, `bundle` and `federated_bundles` fields.
 */

/** The X.509 authorities (root CA certificates, DER) that a trust domain trusts. */
export interface X509Bundle {
  trustDomain: string;
  x509Authorities: Buffer[];
}

/** One PEM block: its label (`CERTIFICATE`, `PRIVATE KEY`, ...) and decoded bytes. */
export interface PemBlock {
  type: string;
  der: Buffer;
}

/** Raised for malformed PEM or DER input. */
export class EncodingError extends Error {
  override readonly name = "EncodingError";
}

const PEM_BLOCK = /-----BEGIN ([A-Z0-9 ]+)-----([^-]*)-----END ([A-Z0-9 ]+)-----/g;
const BASE64_BODY = /^[A-Za-z0-9+/]*={0,2}$/;

/**
 * Decodes every PEM block in `pem`. Text outside the blocks (such as the `subject=` lines
 * that openssl prints) is ignored. Throws {@link EncodingError} for a block whose END label
 * differs from its BEGIN label or whose body is not base64.
 */
export function parsePemBlocks(pem: string): PemBlock[] {
  const blocks: PemBlock[] = [];

  for (const match of pem.matchAll(PEM_BLOCK)) {
    const [, beginType = "", body = "", endType = ""] = match;
    if (beginType !== endType) {
      throw new EncodingError(`invalid PEM: block "BEGIN ${beginType}" ends with "END ${endType}"`);
    }

    const base64 = body.replace(/\s+/g, "");
    if (!BASE64_BODY.test(base64) || base64.length % 4 !== 0) {
      throw new EncodingError(`invalid PEM: the body of the ${beginType} block is not valid base64`);
    }

    blocks.push({ type: beginType, der: Buffer.from(base64, "base64") });
  }

  const begins = pem.match(/-----BEGIN /g)?.length ?? 0;
  if (begins !== blocks.length) {
    throw new EncodingError(`invalid PEM: found ${begins} BEGIN lines but ${blocks.length} complete blocks`);
  }

  return blocks;
}

/**
 * Returns the DER certificates of every `CERTIFICATE` block in `pem`, in order. Throws
 * {@link EncodingError} when the text contains any other kind of block (a private key in a
 * bundle file is a mistake worth reporting). Text with no blocks gives an empty list, so
 * callers that need at least one certificate must check.
 */
export function parsePemCertificates(pem: string): Buffer[] {
  const blocks = parsePemBlocks(pem);

  const other = blocks.find((block) => block.type !== "CERTIFICATE");
  if (other !== undefined) {
    throw new EncodingError(`invalid certificate PEM: found a "${other.type}" block where only CERTIFICATE blocks are allowed`);
  }

  return blocks.map((block) => block.der);
}

/** Encodes DER bytes as one PEM block with 64-character lines, ending in a newline. */
export function derToPem(der: Uint8Array, type: string): string {
  const base64 = Buffer.from(der).toString("base64");
  const lines = base64.match(/.{1,64}/g) ?? [];
  return `-----BEGIN ${type}-----\n${lines.join("\n")}\n-----END ${type}-----\n`;
}

/** Encodes DER certificates as concatenated PEM CERTIFICATE blocks. */
export function certificatesToPem(ders: readonly Uint8Array[]): string {
  return ders.map((der) => derToPem(der, "CERTIFICATE")).join("");
}

/** Concatenates DER certificates into one buffer, the Workload API's chain and bundle form. */
export function concatDer(ders: readonly Uint8Array[]): Buffer {
  return Buffer.concat(ders.map((der) => Buffer.from(der.buffer, der.byteOffset, der.byteLength)));
}

/**
 * Splits concatenated DER (as in the Workload API's `x509_svid` and `bundle` fields) into
 * its ASN.1 SEQUENCE elements by reading each element's length. Throws
 * {@link EncodingError} for an element that is not a SEQUENCE, uses the indefinite length
 * form, is cut short, or for bytes left over at the end. An empty buffer gives an empty
 * list. Only the outer framing is checked: parse each element as a certificate to validate it.
 */
export function splitConcatenatedDer(buffer: Uint8Array): Buffer[] {
  const bytes = Buffer.from(buffer.buffer, buffer.byteOffset, buffer.byteLength);
  const elements: Buffer[] = [];
  let offset = 0;

  while (offset < bytes.length) {
    const length = readSequenceLength(bytes, offset, elements.length);
    elements.push(Buffer.from(bytes.subarray(offset, offset + length)));
    offset += length;
  }

  return elements;
}

/** Returns the total size (header and content) of the SEQUENCE that starts at `offset`. */
function readSequenceLength(bytes: Buffer, offset: number, index: number): number {
  const where = `DER element ${index} at byte ${offset}`;

  if (bytes[offset] !== 0x30) {
    const found = bytes[offset]?.toString(16).padStart(2, "0");
    throw new EncodingError(`invalid concatenated DER: ${where} starts with 0x${found}, expected a SEQUENCE (0x30)`);
  }

  const first = bytes[offset + 1];
  if (first === undefined) {
    throw new EncodingError(`invalid concatenated DER: ${where} is cut off before its length`);
  }

  let contentLength: number;
  let headerLength: number;
  if (first < 0x80) {
    contentLength = first;
    headerLength = 2;
  } else if (first === 0x80) {
    throw new EncodingError(`invalid concatenated DER: ${where} uses the indefinite length form, which DER forbids`);
  } else {
    const lengthBytes = first & 0x7f;
    // Four length bytes already allow 4 GiB, far beyond any certificate.
    if (lengthBytes > 4) {
      throw new EncodingError(`invalid concatenated DER: ${where} declares a ${lengthBytes}-byte length field`);
    }
    if (offset + 2 + lengthBytes > bytes.length) {
      throw new EncodingError(`invalid concatenated DER: ${where} is cut off inside its length`);
    }
    contentLength = bytes.readUIntBE(offset + 2, lengthBytes);
    headerLength = 2 + lengthBytes;
  }

  const total = headerLength + contentLength;
  if (offset + total > bytes.length) {
    throw new EncodingError(
      `invalid concatenated DER: ${where} declares ${contentLength} content bytes but only ` +
        `${bytes.length - offset - headerLength} remain`,
    );
  }

  return total;
}
