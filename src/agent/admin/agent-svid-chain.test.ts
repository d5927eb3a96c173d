import { webcrypto } from "node:crypto";

import { beforeAll, describe, expect, it } from "vitest";

import { x509 } from "../../common/x509.js";
import { createTestIntermediateAuthority, createTestRootAuthority, createTestSvid } from "../../workload-api/test-pki.js";
import type { TestAuthority } from "../../workload-api/test-pki.js";
import { describeAgentSvidChain } from "./agent-svid-chain.js";

const AGENT_ID = "spiffe://example.org/spire/agent/join_token/abc";

let root: TestAuthority;
let intermediate: TestAuthority;

beforeAll(async () => {
  root = await createTestRootAuthority("example.org");
  intermediate = await createTestIntermediateAuthority(root, "example.org");
});

function seconds(date: Date): number {
  return Math.floor(date.getTime() / 1000);
}

/** Creates a root CA without a URI SAN, as some upstream authorities are. */
async function createRootWithoutSpiffeId(): Promise<TestAuthority> {
  const keys = await webcrypto.subtle.generateKey({ name: "ECDSA", namedCurve: "P-256" }, true, ["sign", "verify"]);
  const certificate = await x509.X509CertificateGenerator.createSelfSigned({
    name: "CN=Upstream root, O=Example, C=US",
    keys: keys as never,
    signingAlgorithm: { name: "ECDSA", hash: "SHA-256" },
    notBefore: new Date(Date.now() - 60_000),
    notAfter: new Date(Date.now() + 24 * 3_600_000),
    extensions: [
      new x509.BasicConstraintsExtension(true, undefined, true),
      new x509.KeyUsagesExtension(x509.KeyUsageFlags.keyCertSign | x509.KeyUsageFlags.cRLSign, true),
    ],
  });
  return { certificate, certificateDer: Buffer.from(certificate.rawData), privateKey: keys.privateKey };
}

describe("describeAgentSvidChain", () => {
  it("adds the anchoring root", async () => {
    const svid = await createTestSvid(intermediate, AGENT_ID);

    const chain = describeAgentSvidChain(svid.certChain, [root.certificateDer], new Date());

    expect(chain).toEqual([
      {
        spiffeId: { trustDomain: "example.org", path: "/spire/agent/join_token/abc" },
        expiresAtSeconds: seconds(svid.notAfter),
        subject: "O=SPIRE,C=US",
      },
      {
        spiffeId: { trustDomain: "example.org", path: "" },
        expiresAtSeconds: seconds(intermediate.certificate.notAfter),
        subject: "CN=example.org intermediate,O=Tessera test",
      },
      {
        spiffeId: { trustDomain: "example.org", path: "" },
        expiresAtSeconds: seconds(root.certificate.notAfter),
        subject: "CN=example.org root,O=Tessera test",
      },
    ]);
  });

  it("lists a root copy once", async () => {
    const svid = await createTestSvid(root, AGENT_ID);
    expect(svid.certChain).toHaveLength(2);

    const chain = describeAgentSvidChain(svid.certChain, [root.certificateDer], new Date());

    expect(chain.map((certificate) => certificate.subject)).toEqual(["O=SPIRE,C=US", "CN=example.org root,O=Tessera test"]);
  });

  it("picks the signing root from several", async () => {
    const otherRoot = await createTestRootAuthority("example.org");
    const svid = await createTestSvid(intermediate, AGENT_ID);

    const chain = describeAgentSvidChain(svid.certChain, [otherRoot.certificateDer, root.certificateDer], new Date());

    expect(chain).toHaveLength(3);
    expect(chain[2]?.expiresAtSeconds).toBe(seconds(root.certificate.notAfter));
  });

  it("leaves the ID of a CA without one unset", async () => {
    const upstream = await createRootWithoutSpiffeId();
    const svid = await createTestSvid(upstream, AGENT_ID);

    const chain = describeAgentSvidChain([svid.certChain[0] as Buffer], [upstream.certificateDer], new Date());

    expect(chain[1]?.spiffeId).toBeUndefined();
    expect(chain[1]?.subject).toBe("CN=Upstream root,O=Example,C=US");
  });

  it("rejects a chain from another root", async () => {
    const otherRoot = await createTestRootAuthority("example.org");
    const svid = await createTestSvid(intermediate, AGENT_ID);

    expect(() => describeAgentSvidChain(svid.certChain, [otherRoot.certificateDer], new Date())).toThrow("failed to verify X.509-SVID");
  });

  it("rejects an expired chain", async () => {
    const svid = await createTestSvid(intermediate, AGENT_ID);

    expect(() => describeAgentSvidChain(svid.certChain, [root.certificateDer], new Date(Date.now() + 48 * 3_600_000))).toThrow(
      "failed to verify X.509-SVID",
    );
  });
});
