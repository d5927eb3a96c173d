/**
 * A minimal DER encoder: just the ASN.1 types a PKCS#10 request needs. It exists because
 * @peculiar/x509 2.x needs a Reflect metadata polyfill that the project does not ship.
 */

/** Encodes one DER element from its tag byte and content. */
export function derElement(tag: number, content: Uint8Array): Buffer {
  return Buffer.concat([Buffer.from([tag]), derLength(content.length), content]);
}

/** Encodes a SEQUENCE of already encoded elements. */
export function derSequence(...elements: Uint8Array[]): Buffer {
  return derElement(0x30, Buffer.concat(elements));
}

/** Encodes a SET of already encoded elements, sorted as DER requires for SET OF. */
export function derSet(...elements: Uint8Array[]): Buffer {
  const sorted = [...elements].sort((a, b) => Buffer.compare(a, b));
  return derElement(0x31, Buffer.concat(sorted));
}

/** Encodes a small non-negative INTEGER. */
export function derSmallInteger(value: number): Buffer {
  if (!Number.isInteger(value) || value < 0 || value > 127) {
    throw new RangeError(`derSmallInteger supports 0..127, got ${value}`);
  }
  return derElement(0x02, Buffer.from([value]));
}

/** Encodes an OBJECT IDENTIFIER given in dotted form, e.g. `2.5.29.17`. */
export function derObjectIdentifier(dotted: string): Buffer {
  const arcs = dotted.split(".").map((arc) => Number.parseInt(arc, 10));
  const [first = 0, second = 0, ...rest] = arcs;

  const bytes: number[] = [first * 40 + second];
  for (const arc of rest) {
    bytes.push(...base128(arc));
  }
  return derElement(0x06, Buffer.from(bytes));
}

/** Encodes a PrintableString (the caller keeps to its character set). */
export function derPrintableString(text: string): Buffer {
  return derElement(0x13, Buffer.from(text, "ascii"));
}

/** Encodes a UTF8String. */
export function derUtf8String(text: string): Buffer {
  return derElement(0x0c, Buffer.from(text, "utf8"));
}

/** Encodes an OCTET STRING. */
export function derOctetString(content: Uint8Array): Buffer {
  return derElement(0x04, content);
}

/** Encodes a BIT STRING with no unused bits. */
export function derBitString(content: Uint8Array): Buffer {
  return derElement(0x03, Buffer.concat([Buffer.from([0]), content]));
}

function derLength(length: number): Buffer {
  if (length < 0x80) {
    return Buffer.from([length]);
  }

  const bytes: number[] = [];
  for (let rest = length; rest > 0; rest = Math.floor(rest / 256)) {
    bytes.unshift(rest % 256);
  }
  return Buffer.from([0x80 | bytes.length, ...bytes]);
}

function base128(value: number): number[] {
  const bytes = [value & 0x7f];
  for (let rest = Math.floor(value / 128); rest > 0; rest = Math.floor(rest / 128)) {
    bytes.unshift((rest & 0x7f) | 0x80);
  }
  return bytes;
}
