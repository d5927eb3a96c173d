import { webcrypto } from "node:crypto";

import { Server, ServerCredentials, status } from "@grpc/grpc-js";
import { afterEach, beforeAll, describe, expect, it } from "vitest";

import { x509 } from "../../common/x509.js";
import { BundleClient } from "../../proto/index.js";
import { certificatesToPem } from "../../spiffe/bundle.js";
import { createTestIntermediateAuthority, createTestRootAuthority, createTestSvid } from "../../workload-api/test-pki.js";
import type { TestAuthority, TestSvid } from "../../workload-api/test-pki.js";
import { pkcs8ToPem } from "../crypto/ec-key.js";
import type { ServerEndpoint } from "./dial.js";
import { bootstrapCredentials, serverChannelOptions, serverTarget } from "./dial.js";
import { serverCertificateFailure } from "./tls-failure.js";

const TRUST_DOMAIN = "example.org";
const SERVER_ID = `spiffe://${TRUST_DOMAIN}/spire/server`;

let authority: TestAuthority;
let otherAuthority: TestAuthority;
let sameNameAuthority: TestAuthority;
const servers: Server[] = [];

beforeAll(async () => {
  authority = await createTestRootAuthority(TRUST_DOMAIN);
  otherAuthority = await createTestRootAuthority("other.org");
  // A CA that the server regenerated keeps its subject name but has a new key.
  sameNameAuthority = await createTestRootAuthority(TRUST_DOMAIN);
});

afterEach(() => {
  for (const server of servers.splice(0)) server.forceShutdown();
});

/** Starts a gRPC server with no services over TLS with `svid`; the handshake is all these tests need. */
async function startTlsServer(svid: TestSvid): Promise<ServerEndpoint> {
  const server = new Server();
  const credentials = ServerCredentials.createSsl(
    null,
    [{ cert_chain: Buffer.from(certificatesToPem(svid.certChain)), private_key: Buffer.from(pkcs8ToPem(svid.privateKeyPkcs8)) }],
    false,
  );
  const port = await new Promise<number>((resolve, reject) =>
    server.bindAsync("127.0.0.1:0", credentials, (error, boundPort) => (error ? reject(error) : resolve(boundPort))),
  );
  servers.push(server);
  return { address: "127.0.0.1", port, trustDomain: TRUST_DOMAIN };
}

/** Calls GetBundle with bootstrap credentials trusting `roots` and returns the error. */
function failedCall(endpoint: ServerEndpoint, roots: Buffer[]): Promise<unknown> {
  const client = new BundleClient(serverTarget(endpoint), bootstrapCredentials(endpoint, roots), serverChannelOptions(endpoint));
  return new Promise((resolve) => {
    client.GetBundle({}, { deadline: Date.now() + 10_000 }, (error) => {
      client.close();
      resolve(error);
    });
  });
}

/** Creates a server SVID signed by `issuer` whose validity ended an hour ago. */
async function createExpiredServerSvid(issuer: TestAuthority): Promise<TestSvid> {
  const keys = await webcrypto.subtle.generateKey({ name: "ECDSA", namedCurve: "P-256" }, true, ["sign", "verify"]);
  const notAfter = new Date(Date.now() - 3600_000);
  const certificate = await x509.X509CertificateGenerator.create({
    subject: "O=SPIRE, C=US",
    issuer: issuer.certificate.subject,
    publicKey: keys.publicKey as never,
    signingKey: issuer.privateKey as never,
    signingAlgorithm: { name: "ECDSA", hash: "SHA-256" },
    notBefore: new Date(Date.now() - 2 * 3600_000),
    notAfter,
    extensions: [new x509.SubjectAlternativeNameExtension([{ type: "url", value: SERVER_ID }], false)],
  });
  const pkcs8 = await webcrypto.subtle.exportKey("pkcs8", keys.privateKey);
  return { certChain: [Buffer.from(certificate.rawData), issuer.certificateDer], privateKeyPkcs8: Buffer.from(pkcs8), notAfter };
}

describe("serverCertificateFailure", () => {
  it("recognises a root outside the bundle", async () => {
    const endpoint = await startTlsServer(await createTestSvid(otherAuthority, SERVER_ID));

    const failure = serverCertificateFailure(await failedCall(endpoint, [authority.certificateDer]));

    expect(failure).toEqual({ kind: "untrusted-chain", reason: "self-signed certificate in certificate chain" });
  });

  it("recognises a root with a new key", async () => {
    const endpoint = await startTlsServer(await createTestSvid(sameNameAuthority, SERVER_ID));

    const failure = serverCertificateFailure(await failedCall(endpoint, [authority.certificateDer]));

    expect(failure).toEqual({ kind: "untrusted-chain", reason: "certificate signature failure" });
  });

  it("recognises a missing local issuer", async () => {
    // The server sends its intermediate but not the root, and the bundle has another root.
    const intermediate = await createTestIntermediateAuthority(otherAuthority, TRUST_DOMAIN);
    const svid = await createTestSvid(intermediate, SERVER_ID);
    const endpoint = await startTlsServer(svid);

    const failure = serverCertificateFailure(await failedCall(endpoint, [authority.certificateDer]));

    expect(failure).toEqual({ kind: "untrusted-chain", reason: "unable to get local issuer certificate" });
  });

  it("recognises an expired server certificate", async () => {
    const endpoint = await startTlsServer(await createExpiredServerSvid(authority));

    const failure = serverCertificateFailure(await failedCall(endpoint, [authority.certificateDer]));

    expect(failure).toEqual({ kind: "outside-validity", reason: "certificate has expired" });
  });

  it("recognises another SPIFFE ID", async () => {
    const endpoint = await startTlsServer(await createTestSvid(authority, `spiffe://${TRUST_DOMAIN}/workload`));

    const failure = serverCertificateFailure(await failedCall(endpoint, [authority.certificateDer]));

    expect(failure).toEqual({
      kind: "wrong-server-id",
      reason: `the server presented the SPIFFE ID spiffe://${TRUST_DOMAIN}/workload, expected ${SERVER_ID}`,
    });
  });

  it("ignores other connection failures", async () => {
    const endpoint = await startTlsServer(await createTestSvid(authority, SERVER_ID));
    servers.splice(0).forEach((server) => server.forceShutdown());

    const error = await failedCall(endpoint, [authority.certificateDer]);

    expect((error as { code?: number }).code).toBe(status.UNAVAILABLE);
    expect(serverCertificateFailure(error)).toBeUndefined();
  });

  it("ignores statuses other than UNAVAILABLE", () => {
    const error = { code: status.INTERNAL, details: "No connection established. Last error: Error: certificate has expired" };

    expect(serverCertificateFailure(error)).toBeUndefined();
  });
});
