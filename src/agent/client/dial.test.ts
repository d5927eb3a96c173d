import { Server, ServerCredentials, status } from "@grpc/grpc-js";
import type { ChannelCredentials, ServiceError } from "@grpc/grpc-js";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";

import { BundleClient, bundleService } from "../../proto/index.js";
import type { BundleHandlers, types } from "../../proto/index.js";
import { certificatesToPem } from "../../spiffe/bundle.js";
import { createTestRootAuthority, createTestSvid } from "../../workload-api/test-pki.js";
import type { TestAuthority, TestSvid } from "../../workload-api/test-pki.js";
import { pkcs8ToPem } from "../crypto/ec-key.js";
import type { ServerEndpoint } from "./dial.js";
import { agentCredentials, bootstrapCredentials, serverChannelOptions, serverTarget } from "./dial.js";
import { fetchServerCertificateInsecurely } from "./insecure-bootstrap.js";

const TRUST_DOMAIN = "example.org";

let authority: TestAuthority;
let otherAuthority: TestAuthority;
let serverSvid: TestSvid;
let impostorSvid: TestSvid;
let agentSvid: TestSvid;
const servers: Server[] = [];
const warnings: Error[] = [];
const onWarning = (warning: Error): void => {
  warnings.push(warning);
};

beforeAll(async () => {
  authority = await createTestRootAuthority(TRUST_DOMAIN);
  otherAuthority = await createTestRootAuthority("other.org");
  serverSvid = await createTestSvid(authority, `spiffe://${TRUST_DOMAIN}/spire/server`);
  impostorSvid = await createTestSvid(authority, `spiffe://${TRUST_DOMAIN}/workload`);
  agentSvid = await createTestSvid(authority, `spiffe://${TRUST_DOMAIN}/spire/agent/join_token/abc`);
  process.on("warning", onWarning);
});

afterAll(() => {
  process.off("warning", onWarning);
});

afterEach(() => {
  for (const server of servers.splice(0)) server.forceShutdown();
});

/** Starts a Bundle service over TLS with `svid`; with `requireClientCertificate`, clients must present a certificate from `authority`. */
async function startBundleServer(svid: TestSvid, requireClientCertificate = false): Promise<{ endpoint: ServerEndpoint; peers: string[] }> {
  const peers: string[] = [];
  const handlers: Partial<BundleHandlers> = {
    GetBundle(call, callback) {
      peers.push(call.getPeer());
      const bundle: types.Bundle = { trust_domain: TRUST_DOMAIN, x509_authorities: [{ asn1: authority.certificateDer }] };
      callback(null, bundle);
    },
  };

  const server = new Server();
  server.addService(bundleService, handlers as BundleHandlers);
  const credentials = ServerCredentials.createSsl(
    requireClientCertificate ? Buffer.from(certificatesToPem([authority.certificateDer])) : null,
    [{ cert_chain: Buffer.from(certificatesToPem(svid.certChain)), private_key: Buffer.from(pkcs8ToPem(svid.privateKeyPkcs8)) }],
    requireClientCertificate,
  );
  const port = await new Promise<number>((resolve, reject) =>
    server.bindAsync("127.0.0.1:0", credentials, (error, boundPort) => (error ? reject(error) : resolve(boundPort))),
  );
  servers.push(server);
  return { endpoint: { address: "127.0.0.1", port, trustDomain: TRUST_DOMAIN }, peers };
}

function getBundle(endpoint: ServerEndpoint, credentials: ChannelCredentials): Promise<types.Bundle__Output> {
  const client = new BundleClient(serverTarget(endpoint), credentials, serverChannelOptions(endpoint));
  return new Promise((resolve, reject) => {
    client.GetBundle({}, { deadline: Date.now() + 10_000 }, (error, response) => {
      client.close();
      if (error !== null || response === undefined) reject(error);
      else resolve(response);
    });
  });
}

describe("bootstrapCredentials", () => {
  it("accepts the server SVID on an IP address", async () => {
    const { endpoint } = await startBundleServer(serverSvid);

    const bundle = await getBundle(endpoint, bootstrapCredentials(endpoint, [authority.certificateDer]));

    expect(bundle.trust_domain).toBe(TRUST_DOMAIN);
    expect(warnings.filter((warning) => /ServerName|RFC 6066/.test(warning.message))).toEqual([]);
  });

  it("rejects a certificate with another SPIFFE ID", async () => {
    const { endpoint, peers } = await startBundleServer(impostorSvid);

    const error = (await getBundle(endpoint, bootstrapCredentials(endpoint, [authority.certificateDer])).catch((e: unknown) => e)) as ServiceError;

    expect(error.code).toBe(status.UNAVAILABLE);
    expect(error.details).toContain("spiffe://example.org/workload");
    expect(peers).toEqual([]);
  });

  it("rejects a server outside the bootstrap bundle", async () => {
    const { endpoint, peers } = await startBundleServer(serverSvid);

    const error = (await getBundle(endpoint, bootstrapCredentials(endpoint, [otherAuthority.certificateDer])).catch((e: unknown) => e)) as ServiceError;

    expect(error.code).toBe(status.UNAVAILABLE);
    expect(peers).toEqual([]);
  });

  it("pins the probed leaf for insecure bootstrap", async () => {
    const { endpoint } = await startBundleServer(serverSvid);

    const leaf = await fetchServerCertificateInsecurely(endpoint);
    const bundle = await getBundle(endpoint, bootstrapCredentials(endpoint, [leaf], true));

    expect(leaf.equals(serverSvid.certChain[0] as Buffer)).toBe(true);
    expect(bundle.trust_domain).toBe(TRUST_DOMAIN);
  });

  it("rejects another server's certificate once pinned", async () => {
    const first = await startBundleServer(serverSvid);
    const leaf = await fetchServerCertificateInsecurely(first.endpoint);
    const otherServerSvid = await createTestSvid(authority, `spiffe://${TRUST_DOMAIN}/spire/server`);
    const second = await startBundleServer(otherServerSvid);

    const error = (await getBundle(second.endpoint, bootstrapCredentials(second.endpoint, [leaf], true)).catch((e: unknown) => e)) as ServiceError;

    expect(error.code).toBe(status.UNAVAILABLE);
    expect(second.peers).toEqual([]);
  });

  it("refuses insecure bootstrap without the server ID", async () => {
    const { endpoint } = await startBundleServer(impostorSvid);

    await expect(fetchServerCertificateInsecurely(endpoint)).rejects.toThrow(
      "the server presented the SPIFFE ID spiffe://example.org/workload, expected spiffe://example.org/spire/server",
    );
  });
});

describe("agentCredentials", () => {
  it("presents the agent SVID for mutual TLS", async () => {
    const { endpoint, peers } = await startBundleServer(serverSvid, true);
    const identity = { svidChain: agentSvid.certChain, privateKeyPkcs8: agentSvid.privateKeyPkcs8 };

    const bundle = await getBundle(endpoint, agentCredentials(endpoint, identity, [authority.certificateDer]));

    expect(bundle.trust_domain).toBe(TRUST_DOMAIN);
    expect(peers).toHaveLength(1);
  });

  it("fails without a client certificate", async () => {
    const { endpoint } = await startBundleServer(serverSvid, true);

    await expect(getBundle(endpoint, bootstrapCredentials(endpoint, [authority.certificateDer]))).rejects.toMatchObject({
      code: status.UNAVAILABLE,
    });
  });
});
