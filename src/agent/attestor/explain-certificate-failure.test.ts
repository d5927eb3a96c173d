import { describe, expect, it } from "vitest";

import { explainCertificateFailure } from "./explain-certificate-failure.js";

const endpoint = { address: "127.0.0.1", port: 8081, trustDomain: "example.org" };
const FETCH_BUNDLE = "fetch the current bundle with `tessera-server bundle show` (or `spire-server bundle show`)";

describe("explainCertificateFailure", () => {
  it("points an untrusted chain to the bundle file", () => {
    const failure = { kind: "untrusted-chain", reason: "self-signed certificate in certificate chain" } as const;

    const message = explainCertificateFailure(failure, { endpoint, trustBundlePath: "/opt/tessera/bundle.pem", insecureBootstrap: false });

    expect(message).toBe(
      "TLS verification of the server at 127.0.0.1:8081 failed (self-signed certificate in certificate chain): " +
        `the server's certificate does not chain to the trust bundle in trust_bundle_path (/opt/tessera/bundle.pem): ${FETCH_BUNDLE}`,
    );
  });

  it("names the option without a known path", () => {
    const failure = { kind: "untrusted-chain", reason: "unable to get local issuer certificate" } as const;

    const message = explainCertificateFailure(failure, { endpoint, insecureBootstrap: false });

    expect(message).toContain(`does not chain to the trust bundle in trust_bundle_path: ${FETCH_BUNDLE}`);
  });

  it("suggests clocks for an expired certificate", () => {
    const failure = { kind: "outside-validity", reason: "certificate has expired" } as const;

    const message = explainCertificateFailure(failure, { endpoint, trustBundlePath: "/opt/tessera/bundle.pem", insecureBootstrap: false });

    expect(message).toMatch(/^TLS verification of the server at 127\.0\.0\.1:8081 failed \(certificate has expired\): /);
    expect(message).toContain("check the clocks of this host and the server");
    expect(message).toContain(FETCH_BUNDLE);
  });

  it("points another SPIFFE ID to trust_domain", () => {
    const reason = "the server presented the SPIFFE ID spiffe://example.com/spire/server, expected spiffe://example.org/spire/server";

    const message = explainCertificateFailure({ kind: "wrong-server-id", reason }, { endpoint, insecureBootstrap: false });

    expect(message).toContain(`failed (${reason}): check that trust_domain (example.org) is the server's trust domain`);
    expect(message).not.toContain("bundle show");
  });

  it("blames a changed certificate under insecure bootstrap", () => {
    const failure = { kind: "untrusted-chain", reason: "self-signed certificate" } as const;

    const message = explainCertificateFailure(failure, { endpoint, insecureBootstrap: true });

    expect(message).toContain("the server changed its certificate during insecure bootstrap");
    expect(message).not.toContain("trust_bundle_path");
  });
});
