import { x509 } from "./x509.js";

/** The part of a verified CSR the server uses: only the public key (subject and SANs are ignored). */
export interface VerifiedCsr {
  publicKey: x509.PublicKey;
}

/**
 * Parses a DER PKCS#10 CSR and checks its self-signature, proving the caller holds the
 * private key. Throws an Error starting with "failed to parse CSR" or "invalid CSR
 * signature", SPIRE's wording for the two cases.
 */
export async function parseAndVerifyCsr(der: Uint8Array): Promise<VerifiedCsr> {
  let csr: x509.Pkcs10CertificateRequest;
  try {
    csr = new x509.Pkcs10CertificateRequest(der);
  } catch (error) {
    throw new Error(`failed to parse CSR: ${(error as Error).message}`, { cause: error });
  }

  let valid: boolean;
  try {
    valid = await csr.verify();
  } catch (error) {
    throw new Error(`invalid CSR signature: ${(error as Error).message}`, { cause: error });
  }
  if (!valid) {
    throw new Error("invalid CSR signature: the signature does not match the CSR's public key");
  }

  return { publicKey: csr.publicKey };
}
