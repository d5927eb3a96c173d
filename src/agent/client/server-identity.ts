import type { PeerCertificate } from "node:tls";

import { formatSpiffeId } from "../../spiffe/spiffe-id.js";
import { spiffeIdFromCertificate } from "../../spiffe/x509-svid.js";
import { serverSpiffeId } from "../../spiffe/trust-domain.js";

/** Matches the start of every message {@link checkServerSpiffeId} returns, so the reason can be found in gRPC status details. */
export const SERVER_ID_MISMATCH = /^the server (presented the SPIFFE ID|certificate is not an SVID for) /;

/**
 * Checks that a server certificate carries exactly one URI SAN and that it is the server
 * ID of `trustDomain` (`spiffe://<td>/spire/server`). Returns an Error describing the
 * mismatch, or undefined when the certificate is the server's, in the shape of Node's
 * `checkServerIdentity` callback.
 */
export function checkServerSpiffeId(trustDomain: string, certificateDer: Buffer): Error | undefined {
  const expected = serverSpiffeId(trustDomain);

  let actual: string;
  try {
    actual = formatSpiffeId(spiffeIdFromCertificate(certificateDer));
  } catch (error) {
    return new Error(`the server certificate is not an SVID for ${expected}: ${(error as Error).message}`);
  }

  if (actual !== expected) {
    return new Error(`the server presented the SPIFFE ID ${actual}, expected ${expected}`);
  }
  return undefined;
}

/**
 * Builds the `checkServerIdentity` callback for TLS connections to the server. It replaces
 * Node's host name check: SPIRE server certificates name the server by SPIFFE ID and carry
 * no DNS or IP SAN, so the address the agent dialled is not compared with the certificate.
 */
export function serverIdentityChecker(trustDomain: string): (hostname: string, certificate: PeerCertificate) => Error | undefined {
  return (_hostname, certificate) => checkServerSpiffeId(trustDomain, certificate.raw);
}
