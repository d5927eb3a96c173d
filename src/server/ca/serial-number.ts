import { randomBytes } from "node:crypto";

/**
 * Returns a random positive 128-bit certificate serial number as hex (the form
 * @peculiar/x509 takes). The top bit is cleared so that the DER INTEGER stays positive
 * without a padding byte.
 */
export function randomSerialNumberHex(): string {
  const bytes = randomBytes(16);
  bytes[0] = (bytes[0] ?? 0) & 0x7f;
  if (bytes[0] === 0) bytes[0] = 0x01;
  return bytes.toString("hex");
}

/**
 * Converts a hex serial number to decimal, the form SPIRE stores and prints
 * (Go's `big.Int.String()`), so that `agent list` shows the same digits as `openssl x509 -serial`
 * converted to base 10.
 */
export function serialNumberToDecimal(hex: string): string {
  return BigInt(`0x${hex}`).toString(10);
}
