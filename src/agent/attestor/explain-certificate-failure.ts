import type { ServerEndpoint } from "../client/dial.js";
import type { ServerCertificateFailure } from "../client/tls-failure.js";

/** Trust source the agent used to authenticate the server during node attestation. */
export interface BootstrapTrust {
  endpoint: ServerEndpoint;
  /** Path of trust_bundle_path, for the message; undefined when unknown or with insecure bootstrap. */
  trustBundlePath?: string;
  insecureBootstrap: boolean;
}

const FETCH_BUNDLE = "fetch the current bundle with `tessera-server bundle show` (or `spire-server bundle show`)";

/**
 * Explains why the agent rejected the server's certificate during node attestation, and
 * what the operator can do about it, in one line for the error and the log.
 */
export function explainCertificateFailure(failure: ServerCertificateFailure, trust: BootstrapTrust): string {
  const { endpoint } = trust;
  const where = `${endpoint.address}:${endpoint.port}`;
  const failed = `TLS verification of the server at ${where} failed (${failure.reason})`;

  if (failure.kind === "wrong-server-id") {
    return (
      `${failed}: check that trust_domain (${endpoint.trustDomain}) is the server's trust domain ` +
      "and that server_address and server_port point to that SPIRE-compatible server"
    );
  }

  if (trust.insecureBootstrap) {
    // Insecure bootstrap pins the leaf it fetched a moment earlier, so only a server that
    // changed its certificate in between gets here; the next attempt fetches it again.
    return `${failed}: the server changed its certificate during insecure bootstrap`;
  }

  const bundle = trust.trustBundlePath === undefined ? "trust_bundle_path" : `trust_bundle_path (${trust.trustBundlePath})`;
  if (failure.kind === "outside-validity") {
    return `${failed}: a certificate in the server's chain or in ${bundle} is outside its validity period: check the clocks of this host and the server, then ${FETCH_BUNDLE}`;
  }
  return `${failed}: the server's certificate does not chain to the trust bundle in ${bundle}: ${FETCH_BUNDLE}`;
}
