import { createPublicKey, verify, X509Certificate } from "node:crypto";
import { status } from "@grpc/grpc-js";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { createCsr } from "../../agent/crypto/csr.js";
import { generateEcP256Pkcs8 } from "../../agent/crypto/ec-key.js";
import type { svidv1, types } from "../../proto/index.js";
import { parsePemCertificates } from "../../spiffe/bundle.js";
import { verifyX509SvidChain } from "../../spiffe/x509-svid.js";
import { call, callError, startTestServer } from "../test-support/server-harness.js";
import type { TestAgent, TestServer } from "../test-support/server-harness.js";

describe("SVID service", () => {
  let server: TestServer;
  let agent: TestAgent;

  beforeEach(async () => {
    server = await startTestServer();
    agent = await server.attest(await server.createJoinToken({ agentId: "spiffe://example.org/host/node-1" }));
  });

  afterEach(async () => {
    await server.stop();
  });

  async function batchNew(params: svidv1.NewX509SVIDParams[]): Promise<svidv1.BatchNewX509SVIDResponseResult__Output[]> {
    const clients = await server.agentClients(agent);
    const response = await call<svidv1.BatchNewX509SVIDResponse__Output>((done) => clients.svid.BatchNewX509SVID({ params }, done));
    return response.results;
  }

  it("signs SVIDs for the agent's children with the entry's SPIFFE ID, TTL and DNS names", async () => {
    const entryId = await server.createEntry({
      spiffeId: "spiffe://example.org/web",
      parentId: agent.agentId,
      x509SvidTtl: 120,
      dnsNames: ["web.example.org"],
      hint: "external",
    });
    // The CSR requests another identity, which the server must ignore in favour of the entry's.
    const csr = createCsr(generateEcP256Pkcs8(), "spiffe://example.org/admin");

    const [result] = await batchNew([{ entry_id: entryId, csr }]);
    const chain = result?.svid?.cert_chain ?? [];
    const leaf = new X509Certificate(chain[0] as Buffer);
    const lifetimeSeconds = (Date.parse(leaf.validTo) - Date.now()) / 1000;

    expect(result?.status).toEqual({ code: status.OK, message: "OK" });
    expect(verifyX509SvidChain(chain, parsePemCertificates(await server.bundlePem())).path).toBe("/web");
    expect(leaf.subjectAltName).toBe("URI:spiffe://example.org/web, DNS:web.example.org");
    expect(lifetimeSeconds).toBeGreaterThan(100);
    expect(lifetimeSeconds).toBeLessThanOrEqual(120);
    expect(result?.svid?.hint).toBe("external");
    expect(result?.svid?.id).toEqual({ trust_domain: "example.org", path: "/web" });
  });

  it("signs SVIDs for descendants with the default TTL", async () => {
    const entryId = await server.createEntry({ spiffeId: "spiffe://example.org/host/node-1/app", parentId: "spiffe://example.org/host/node-1" });

    const [result] = await batchNew([{ entry_id: entryId, csr: createCsr(generateEcP256Pkcs8()) }]);
    const lifetimeSeconds = (result?.svid?.expires_at ?? 0) - Date.now() / 1000;

    expect(result?.status?.code).toBe(status.OK);
    expect(lifetimeSeconds).toBeGreaterThan(3500);
    expect(lifetimeSeconds).toBeLessThanOrEqual(3600);
  });

  it("reports each failure in its own result", async () => {
    const authorizedId = await server.createEntry({ spiffeId: "spiffe://example.org/web", parentId: agent.agentId });
    const foreignId = await server.createEntry({
      spiffeId: "spiffe://example.org/db",
      parentId: "spiffe://example.org/spire/agent/join_token/someone-else",
    });
    const brokenCsr = createCsr(generateEcP256Pkcs8());
    brokenCsr[brokenCsr.length - 3] = (brokenCsr[brokenCsr.length - 3] as number) ^ 0x55;

    const results = await batchNew([
      { entry_id: foreignId, csr: createCsr(generateEcP256Pkcs8()) },
      { entry_id: "", csr: createCsr(generateEcP256Pkcs8()) },
      { entry_id: authorizedId, csr: Buffer.alloc(0) },
      { entry_id: authorizedId, csr: brokenCsr },
      { entry_id: authorizedId, csr: createCsr(generateEcP256Pkcs8()) },
    ]);

    expect(results.map((result) => result.status?.code)).toEqual([
      status.NOT_FOUND,
      status.INVALID_ARGUMENT,
      status.INVALID_ARGUMENT,
      status.INVALID_ARGUMENT,
      status.OK,
    ]);
    expect(results[0]?.status?.message).toBe("entry not found or not authorized");
    expect(results[0]?.svid).toBeNull();
  });

  it("rejects an empty batch", async () => {
    const clients = await server.agentClients(agent);

    const error = await callError((done) => clients.svid.BatchNewX509SVID({ params: [] }, done));

    expect(error.code).toBe(status.INVALID_ARGUMENT);
    expect(error.details).toBe("missing parameters");
  });

  async function newJwt(entryId: string, audience: string[]): Promise<types.JWTSVID__Output> {
    const clients = await server.agentClients(agent);
    const response = await call<svidv1.NewJWTSVIDResponse__Output>((done) => clients.svid.NewJWTSVID({ entry_id: entryId, audience }, done));
    return response.svid as types.JWTSVID__Output;
  }

  async function jwtAuthorities(): Promise<types.JWTKey__Output[]> {
    const bundle = await call<types.Bundle__Output>((done) => server.admin.bundle.GetBundle({}, done));
    return bundle.jwt_authorities;
  }

  function decodeSegment(segment: string | undefined): Record<string, unknown> {
    return JSON.parse(Buffer.from(segment ?? "", "base64url").toString("utf8")) as Record<string, unknown>;
  }

  it("signs JWT-SVIDs that verify with the bundle's JWT authority", async () => {
    const entryId = await server.createEntry({ spiffeId: "spiffe://example.org/web", parentId: agent.agentId, hint: "external" });
    const before = Math.floor(Date.now() / 1000);

    const svid = await newJwt(entryId, ["spiffe://example.org/db"]);
    const [headerPart, claimsPart, signaturePart] = svid.token.split(".");
    const header = decodeSegment(headerPart);
    const claims = decodeSegment(claimsPart);
    const authority = (await jwtAuthorities()).find((candidate) => candidate.key_id === header.kid);
    const publicKey = createPublicKey({ key: authority?.public_key ?? Buffer.alloc(0), format: "der", type: "spki" });
    const verified = verify(
      "sha256",
      Buffer.from(`${headerPart}.${claimsPart}`),
      { key: publicKey, dsaEncoding: "ieee-p1363" },
      Buffer.from(signaturePart ?? "", "base64url"),
    );

    expect(header).toEqual({ alg: "ES256", kid: authority?.key_id, typ: "JWT" });
    expect(authority?.key_id).toMatch(/^[A-Za-z0-9]{32}$/);
    expect(verified).toBe(true);
    expect(Object.keys(claims).sort()).toEqual(["aud", "exp", "iat", "sub"]);
    expect(claims.sub).toBe("spiffe://example.org/web");
    expect(claims.aud).toBe("spiffe://example.org/db");
    expect(claims.iat).toBe(svid.issued_at);
    expect(claims.exp).toBe(svid.expires_at);
    expect(svid.issued_at).toBeGreaterThanOrEqual(before);
    expect(svid.expires_at - svid.issued_at).toBe(300);
    expect(svid.id).toEqual({ trust_domain: "example.org", path: "/web" });
    expect(svid.hint).toBe("external");
  });

  it("uses the entry's JWT-SVID TTL and an audience list", async () => {
    const entryId = await server.createEntry({ spiffeId: "spiffe://example.org/web", parentId: agent.agentId, jwtSvidTtl: 90 });

    const svid = await newJwt(entryId, ["a", "", "b"]);
    const claims = decodeSegment(svid.token.split(".")[1]);

    expect(svid.expires_at - svid.issued_at).toBe(90);
    expect(claims.aud).toEqual(["a", "b"]);
  });

  it("rejects JWT-SVIDs for entries of other agents", async () => {
    const foreignId = await server.createEntry({
      spiffeId: "spiffe://example.org/db",
      parentId: "spiffe://example.org/spire/agent/join_token/someone-else",
    });
    const clients = await server.agentClients(agent);

    const error = await callError((done) => clients.svid.NewJWTSVID({ entry_id: foreignId, audience: ["a"] }, done));

    expect(error.code).toBe(status.NOT_FOUND);
    expect(error.details).toBe("entry not found or not authorized");
  });

  it("rejects JWT-SVIDs with too many audiences", async () => {
    const entryId = await server.createEntry({ spiffeId: "spiffe://example.org/web", parentId: agent.agentId });
    const clients = await server.agentClients(agent);
    const audience = Array.from({ length: 65 }, (_, index) => `service-${index}`);

    const error = await callError((done) => clients.svid.NewJWTSVID({ entry_id: entryId, audience }, done));

    expect(error.code).toBe(status.INVALID_ARGUMENT);
    expect(error.details).toBe("too many audiences: 65, the maximum is 64");
  });

  it("rejects JWT-SVIDs without an audience", async () => {
    const entryId = await server.createEntry({ spiffeId: "spiffe://example.org/web", parentId: agent.agentId });
    const clients = await server.agentClients(agent);

    const error = await callError((done) => clients.svid.NewJWTSVID({ entry_id: entryId, audience: [] }, done));

    expect(error.code).toBe(status.INVALID_ARGUMENT);
    expect(error.details).toBe("at least one audience is required");
  });
});
