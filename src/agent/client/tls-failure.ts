import { status } from "@grpc/grpc-js";
import type { ServiceError } from "@grpc/grpc-js";

import { SERVER_ID_MISMATCH } from "./server-identity.js";

/**
 * Reason the TLS handshake with the server failed when the agent rejected the server's
 * certificate:
 * - `untrusted-chain`: the chain does not lead to a root in the agent's trust bundle.
 * - `outside-validity`: a certificate in the chain has expired or is not valid yet.
 * - `wrong-server-id`: the chain verifies, but the leaf is not `spiffe://<td>/spire/server`.
 */
export interface ServerCertificateFailure {
  kind: "untrusted-chain" | "outside-validity" | "wrong-server-id";
  /** The verification error as OpenSSL or the SPIFFE ID check worded it. */
  reason: string;
}

/** OpenSSL 3 verification errors (as Node.js 20 words them) that mean the chain has no root in the trust bundle. */
const UNTRUSTED_CHAIN_REASONS = [
  "self-signed certificate in certificate chain",
  "self-signed certificate",
  "unable to get local issuer certificate",
  "unable to get issuer certificate",
  "unable to verify the first certificate",
  "certificate signature failure",
];

const OUTSIDE_VALIDITY_REASONS = ["certificate has expired", "certificate is not yet valid"];

/**
 * Returns why the agent rejected the server's certificate when `error` is a failed gRPC
 * call whose connection failed that way, or undefined for any other failure.
 *
 * grpc-js 1.14 keeps only the text of the connection error, in the UNAVAILABLE status
 * details ("No connection established. Last error: Error: <reason>. Resolution note: "),
 * so the reason is recognised by its wording.
 */
export function serverCertificateFailure(error: unknown): ServerCertificateFailure | undefined {
  const serviceError = error as Partial<ServiceError> | undefined;
  if (serviceError?.code !== status.UNAVAILABLE || typeof serviceError.details !== "string") {
    return undefined;
  }

  const reason = /Last error: (?:Error: )?(.*?)(?:\.? Resolution note: .*)?$/s.exec(serviceError.details)?.[1];
  if (reason === undefined) {
    return undefined;
  }

  if (SERVER_ID_MISMATCH.test(reason)) {
    return { kind: "wrong-server-id", reason };
  }
  if (UNTRUSTED_CHAIN_REASONS.includes(reason)) {
    return { kind: "untrusted-chain", reason };
  }
  if (OUTSIDE_VALIDITY_REASONS.includes(reason)) {
    return { kind: "outside-validity", reason };
  }
  return undefined;
}
