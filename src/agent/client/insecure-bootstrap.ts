import { connect } from "node:tls";
import { isIP } from "node:net";

import type { ServerEndpoint } from "./dial.js";
import { checkServerSpiffeId } from "./server-identity.js";

/** How long the certificate probe may take before it fails. */
const PROBE_TIMEOUT_MS = 30_000;

/**
 * Connects to the server without verifying its chain, checks that its leaf certificate
 * carries exactly the SPIFFE ID `spiffe://<td>/spire/server`, and returns that leaf (DER).
 * Used only with `insecure_bootstrap`: the caller then pins the leaf for the AttestAgent
 * connection (see {@link bootstrapCredentials}).
 *
 * This takes a separate TLS connection because Node.js skips `checkServerIdentity` when
 * `rejectUnauthorized` is false and the chain does not verify, so grpc-js credentials with
 * `rejectUnauthorized: false` could not require the SPIFFE ID before the join token is sent.
 */
export function fetchServerCertificateInsecurely(endpoint: ServerEndpoint, signal?: AbortSignal): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const where = `${endpoint.address}:${endpoint.port}`;
    const socket = connect({
      host: endpoint.address,
      port: endpoint.port,
      servername: isIP(endpoint.address) === 0 ? endpoint.address : endpoint.trustDomain,
      rejectUnauthorized: false,
      ALPNProtocols: ["h2"],
    });

    const fail = (error: Error): void => {
      cleanUp();
      reject(error);
    };
    const onAbort = (): void => fail(new Error(`fetching the server certificate from ${where} was aborted`));
    const timer = setTimeout(() => fail(new Error(`timed out fetching the server certificate from ${where}`)), PROBE_TIMEOUT_MS);
    signal?.addEventListener("abort", onAbort, { once: true });

    function cleanUp(): void {
      clearTimeout(timer);
      signal?.removeEventListener("abort", onAbort);
      socket.destroy();
    }

    socket.once("error", (error) => fail(new Error(`failed to connect to the server at ${where}: ${error.message}`)));
    socket.once("secureConnect", () => {
      const leaf = socket.getPeerCertificate().raw;
      const mismatch = leaf === undefined ? new Error("the server sent no certificate") : checkServerSpiffeId(endpoint.trustDomain, leaf);
      if (mismatch !== undefined) {
        fail(new Error(`refusing insecure bootstrap with the server at ${where}: ${mismatch.message}`));
        return;
      }
      cleanUp();
      resolve(leaf);
    });
  });
}
