import { generateKeyPairSync } from "node:crypto";
import { status } from "@grpc/grpc-js";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import type { bundlev1, entryv1, types } from "../../proto/index.js";
import { parsePemCertificates } from "../../spiffe/bundle.js";
import { createRootCa, DEFAULT_CA_SUBJECT } from "../ca/x509-ca.js";
import { call, callError, protoId, startTestServer } from "../test-support/server-harness.js";
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
  async function otherBundle(trustDomain = "other.org"): Promise<types.Bundle> {
    const root = await createRootCa({ trustDomain, ttlSeconds: 3600, subject: DEFAULT_CA_SUBJECT });
    const jwtKey = generateKeyPairSync("ec", { namedCurve: "P-256" }).publicKey.export({ format: "der", type: "spki" });
    return {
      trust_domain: trustDomain,
      x509_authorities: [{ asn1: Buffer.from(root.certificate.rawData) }],
      jwt_authorities: [{ public_key: jwtKey, key_id: "other-key", expires_at: 2_000_000_000 }],
      refresh_hint: 300,
    };
  }

  it("creates, lists, updates and deletes federated bundles", async () => {
    const bundle = await otherBundle();
    const admin = server.admin.bundle;

    const created = await call<bundlev1.BatchCreateFederatedBundleResponse__Output>((done) => admin.BatchCreateFederatedBundle({ bundle: [bundle] }, done));
    const again = await call<bundlev1.BatchCreateFederatedBundleResponse__Output>((done) => admin.BatchCreateFederatedBundle({ bundle: [bundle] }, done));
    const listed = await call<bundlev1.ListFederatedBundlesResponse__Output>((done) => admin.ListFederatedBundles({}, done));
    const updated = await call<bundlev1.BatchUpdateFederatedBundleResponse__Output>((done) =>
      admin.BatchUpdateFederatedBundle({ bundle: [{ trust_domain: "other.org", refresh_hint: 60 }], input_mask: { refresh_hint: true } }, done),
    );
    const deleted = await call<bundlev1.BatchDeleteFederatedBundleResponse__Output>((done) =>
      admin.BatchDeleteFederatedBundle({ trust_domains: ["other.org", "missing.org"] }, done),
    );
    const afterDelete = await callError((done) => admin.GetFederatedBundle({ trust_domain: "other.org" }, done));

    expect(created.results[0]?.status).toEqual({ code: status.OK, message: "OK" });
    expect(created.results[0]?.bundle?.jwt_authorities[0]?.key_id).toBe("other-key");
    expect(again.results[0]?.status).toEqual({ code: status.ALREADY_EXISTS, message: "bundle already exists" });
    expect(listed.bundles.map((item) => item.trust_domain)).toEqual(["other.org"]);
    expect(listed.bundles[0]?.x509_authorities[0]?.asn1).toEqual(bundle.x509_authorities?.[0]?.asn1);
    expect(updated.results[0]?.bundle?.refresh_hint).toBe(60);
    expect(updated.results[0]?.bundle?.x509_authorities).toHaveLength(1);
    expect(deleted.results.map((result) => [result.trust_domain, result.status?.code])).toEqual([
      ["other.org", status.OK],
      ["missing.org", status.NOT_FOUND],
    ]);
    expect(afterDelete.code).toBe(status.NOT_FOUND);
  });

  it("rejects invalid federated bundles", async () => {
    const own = { ...(await otherBundle()), trust_domain: "example.org" };
    const badCertificate = { trust_domain: "bad.org", x509_authorities: [{ asn1: Buffer.from("not DER") }] };
    const missingKeyId = { ...(await otherBundle("third.org")), jwt_authorities: [{ public_key: Buffer.alloc(1), key_id: "" }] };

    const response = await call<bundlev1.BatchSetFederatedBundleResponse__Output>((done) =>
      server.admin.bundle.BatchSetFederatedBundle({ bundle: [own, badCertificate, missingKeyId, { trust_domain: "Not A Domain" }] }, done),
    );

    expect(response.results.map((result) => result.status?.code)).toEqual([
      status.INVALID_ARGUMENT,
      status.INVALID_ARGUMENT,
      status.INVALID_ARGUMENT,
      status.INVALID_ARGUMENT,
    ]);
    expect(response.results[0]?.status?.message).toBe("setting a federated bundle for the server's own trust domain is not allowed");
    expect(response.results[1]?.status?.message).toMatch(/^failed to convert bundle: invalid X\.509 authority 0/);
    expect(response.results[2]?.status?.message).toBe("failed to convert bundle: invalid JWT authority 0: missing key ID");
  });

  it("applies delete modes to federating entries", async () => {
    const admin = server.admin.bundle;
    const bundle = await otherBundle();
    await call((done) => admin.BatchSetFederatedBundle({ bundle: [bundle] }, done));
    const entryId = await server.createEntry({ spiffeId: "spiffe://example.org/web", parentId: agent.agentId, federatesWith: ["other.org"] });
    const deleteWith = (mode: bundlev1.BatchDeleteFederatedBundleRequest["mode"]) =>
      call<bundlev1.BatchDeleteFederatedBundleResponse__Output>((done) => admin.BatchDeleteFederatedBundle({ trust_domains: ["other.org"], mode }, done));

    const restricted = await deleteWith("RESTRICT");
    const dissociated = await deleteWith("DISSOCIATE");
    const entry = await call<types.Entry__Output>((done) => server.admin.entry.GetEntry({ id: entryId }, done));

    expect(restricted.results[0]?.status?.code).toBe(status.FAILED_PRECONDITION);
    expect(restricted.results[0]?.status?.message).toBe(
      'failed to delete federated bundle: cannot delete bundle: 1 registration entry federate with "other.org"',
    );
    expect(dissociated.results[0]?.status?.code).toBe(status.OK);
    expect(entry.federates_with).toEqual([]);
  });

  it("sends federates_with to agents and requires the bundle", async () => {
    const withoutBundle = await call<entryv1.BatchCreateEntryResponse__Output>((done) =>
      server.admin.entry.BatchCreateEntry(
        { entries: [{ spiffe_id: protoId("spiffe://example.org/web"), parent_id: protoId(agent.agentId), selectors: [{ type: "unix", value: "uid:1" }], federates_with: ["other.org"] }] },
        done,
      ),
    );
    const bundle = await otherBundle();
    await call((done) => server.admin.bundle.BatchCreateFederatedBundle({ bundle: [bundle] }, done));
    await server.createEntry({ spiffeId: "spiffe://example.org/web", parentId: agent.agentId, federatesWith: ["spiffe://other.org"] });
    const clients = await server.agentClients(agent);

    const authorized = await call<entryv1.GetAuthorizedEntriesResponse__Output>((done) =>
      clients.entry.GetAuthorizedEntries({ output_mask: { spiffe_id: true, federates_with: true, revision_number: true } }, done),
    );
    const federated = await call<types.Bundle__Output>((done) => clients.bundle.GetFederatedBundle({ trust_domain: "other.org" }, done));

    expect(withoutBundle.results[0]?.status).toEqual({
      code: status.INTERNAL,
      message: 'failed to create entry: unable to find federated bundle "spiffe://other.org"',
    });
    expect(authorized.entries.map((entry) => entry.federates_with)).toEqual([["other.org"]]);
    expect(federated.jwt_authorities[0]?.key_id).toBe("other-key");
    expect(federated.refresh_hint).toBe(300);
  });

  it("rejects federated bundle changes from agents", async () => {
    const clients = await server.agentClients(agent);
    const bundle = await otherBundle();

    const error = await callError((done) => clients.bundle.BatchSetFederatedBundle({ bundle: [bundle] }, done));

    expect(error.code).toBe(status.PERMISSION_DENIED);
  });
});
