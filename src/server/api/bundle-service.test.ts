import { status } from "@grpc/grpc-js";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import type { types } from "../../proto/index.js";
import { parsePemCertificates } from "../../spiffe/bundle.js";
import { call, callError, startTestServer } from "../test-support/server-harness.js";
import type { TestAgent, TestServer } from "../test-support/server-harness.js";

describe("bundle service", () => {
  let server: TestServer;
  let agent: TestAgent;

  beforeEach(async () => {
    server = await startTestServer();
    agent = await server.attest(await server.createJoinToken());
  });

  afterEach(async () => {
    await server.stop();
  });

  it("serves the own bundle to callers without a certificate", async () => {
    const clients = await server.anonymousClients();

    const bundle = await call<types.Bundle__Output>((done) => clients.bundle.GetBundle({}, done));

    expect(bundle.trust_domain).toBe("example.org");
    expect(bundle.x509_authorities.map((authority) => authority.asn1)).toEqual(parsePemCertificates(await server.bundlePem()));
    expect(bundle.sequence_number).toBeGreaterThan(0);
  });

  it("applies the output mask", async () => {
    const clients = await server.anonymousClients();

    const bundle = await call<types.Bundle__Output>((done) => clients.bundle.GetBundle({ output_mask: { refresh_hint: true } }, done));

    expect(bundle.x509_authorities).toEqual([]);
    expect(bundle.trust_domain).toBe("example.org");
  });

  it("returns NotFound for an unknown federated bundle", async () => {
    const clients = await server.agentClients(agent);

    const error = await callError((done) => clients.bundle.GetFederatedBundle({ trust_domain: "other.org" }, done));

    expect(error.code).toBe(status.NOT_FOUND);
    expect(error.details).toBe("bundle not found");
  });

  it("serves stored federated bundles to agents", async () => {
    const root = parsePemCertificates(await server.bundlePem())[0] as Buffer;
    server.datastore.bundles.set({ trustDomain: "other.org", x509Authorities: [root], jwtAuthorities: [], refreshHint: 60 });
    const clients = await server.agentClients(agent);

    const bundle = await call<types.Bundle__Output>((done) => clients.bundle.GetFederatedBundle({ trust_domain: "other.org" }, done));

    expect(bundle.trust_domain).toBe("other.org");
    expect(bundle.refresh_hint).toBe(60);
  });

  it("refuses federated bundles to callers without an agent SVID", async () => {
    const clients = await server.anonymousClients();

    const error = await callError((done) => clients.bundle.GetFederatedBundle({ trust_domain: "other.org" }, done));

    expect(error.code).toBe(status.PERMISSION_DENIED);
  });

  it("refuses the own trust domain as a federated bundle", async () => {
    const clients = await server.agentClients(agent);

    const error = await callError((done) => clients.bundle.GetFederatedBundle({ trust_domain: "example.org" }, done));

    expect(error.code).toBe(status.INVALID_ARGUMENT);
  });
});
