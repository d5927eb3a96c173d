import { status } from "@grpc/grpc-js";
import type { ServiceError } from "@grpc/grpc-js";
import { afterEach, describe, expect, it } from "vitest";
import { createCsr } from "../../agent/crypto/csr.js";
import { generateEcP256Pkcs8 } from "../../agent/crypto/ec-key.js";
import type { agentv1, types } from "../../proto/index.js";
import { parsePemCertificates } from "../../spiffe/bundle.js";
import { verifyX509SvidChain } from "../../spiffe/x509-svid.js";
import { call, callError, startTestServer } from "../test-support/server-harness.js";
import type { TestAgent, TestServer } from "../test-support/server-harness.js";
import { permissionDeniedReason } from "../../agent/client/permission-denied.js";

describe("agent service", () => {
  const servers: TestServer[] = [];
  afterEach(async () => {
    for (const server of servers.splice(0)) await server.stop();
  });

  async function start(overrides = {}): Promise<TestServer> {
    const server = await startTestServer(overrides);
    servers.push(server);
    return server;
  }

  async function attestError(server: TestServer, token: string, csr?: Buffer): Promise<ServiceError> {
    try {
      await server.attest(token, csr);
    } catch (error) {
      return error as ServiceError;
    }
    throw new Error("attestation succeeded but was expected to fail");
  }

  async function renew(server: TestServer, agent: TestAgent): Promise<TestAgent> {
    const clients = await server.agentClients(agent);
    const keyPkcs8 = generateEcP256Pkcs8();
    const response = await call<agentv1.RenewAgentResponse__Output>((done) =>
      clients.agent.RenewAgent({ params: { csr: createCsr(keyPkcs8) } }, done),
    );
    return { agentId: agent.agentId, chain: response.svid?.cert_chain ?? [], keyPkcs8 };
  }

  async function postStatus(server: TestServer, agent: TestAgent): Promise<void> {
    const clients = await server.agentClients(agent);
    await call((done) => clients.agent.PostStatus({ agent_version: "test" }, done));
  }

  describe("AttestAgent with join_token", () => {
    it("issues an agent SVID for the token's agent ID", async () => {
      const server = await start();
      const token = await server.createJoinToken();

      const agent = await server.attest(token);
      const roots = parsePemCertificates(await server.bundlePem());

      expect(agent.agentId).toBe(`spiffe://example.org/spire/agent/join_token/${token}`);
      expect(verifyX509SvidChain(agent.chain, roots).path).toBe(`/spire/agent/join_token/${token}`);
      expect(server.datastore.nodes.get(agent.agentId)).toMatchObject({ attestationType: "join_token", canReattest: false });
    });

    it("returns reattestable false and the SVID expiry", async () => {
      const server = await start();
      const token = await server.createJoinToken();
      const { anonymousClients } = server;
      const clients = await anonymousClients();

      const response = await new Promise<agentv1.AttestAgentResponse__Output>((resolve, reject) => {
        const stream = clients.agent.AttestAgent();
        stream.on("data", resolve);
        stream.on("error", reject);
        stream.write({ params: { data: { type: "join_token", payload: Buffer.from(token) }, params: { csr: createCsr(generateEcP256Pkcs8()) } } });
        stream.end();
      });

      expect(response.step).toBe("result");
      expect(response.result?.reattestable).toBe(false);
      expect(response.result?.svid?.expires_at).toBeGreaterThan(Date.now() / 1000);
    });

    it("accepts a token only once", async () => {
      const server = await start();
      const token = await server.createJoinToken();
      await server.attest(token);

      const error = await attestError(server, token);

      expect(error.code).toBe(status.INVALID_ARGUMENT);
      expect(error.details).toBe("failed to attest: join token does not exist or has already been used");
    });

    it("rejects an expired token", async () => {
      const server = await start();
      const token = await server.createJoinToken({ ttl: 1 });
      await new Promise((resolve) => setTimeout(resolve, 2100));

      const error = await attestError(server, token);

      expect(error.code).toBe(status.INVALID_ARGUMENT);
      expect(error.details).toBe("join token expired");
    });

    it("rejects a banned agent", async () => {
      const server = await start();
      const token = await server.createJoinToken({ token: "reused-token" });
      const agent = await server.attest(token);
      await call((done) => server.admin.agent.BanAgent({ id: { trust_domain: "example.org", path: new URL(agent.agentId).pathname } }, done));
      await server.createJoinToken({ token: "reused-token" });

      const error = await attestError(server, "reused-token");

      expect(error.code).toBe(status.PERMISSION_DENIED);
      expect(error.details).toBe("failed to attest: agent is banned");
    });

    it("rejects a CSR with a broken signature", async () => {
      const server = await start();
      const token = await server.createJoinToken();
      const csr = createCsr(generateEcP256Pkcs8());
      csr[csr.length - 5] = (csr[csr.length - 5] as number) ^ 0xff;

      const error = await attestError(server, token, csr);

      expect(error.code).toBe(status.INVALID_ARGUMENT);
      expect(error.details).toMatch(/CSR/);
    });

    it("rejects unknown attestors", async () => {
      const server = await start();
      const clients = await server.anonymousClients();

      const error = await new Promise<{ code: number; details: string }>((resolve) => {
        const stream = clients.agent.AttestAgent();
        stream.on("data", () => undefined);
        stream.on("error", resolve);
        stream.write({ params: { data: { type: "x509pop", payload: Buffer.from("x") }, params: { csr: Buffer.from([1]) } } });
        stream.end();
      });

      expect(error.code).toBe(status.FAILED_PRECONDITION);
    });
  });

  describe("RenewAgent", () => {
    it("keeps the old SVID working until the new one is used", async () => {
      const server = await start();
      const agent = await server.attest(await server.createJoinToken());

      const renewed = await renew(server, agent);
      await postStatus(server, agent);
      await postStatus(server, renewed);
      const error = await callError(async (done) => (await server.agentClients(agent)).agent.PostStatus({}, done));

      expect(renewed.chain).toHaveLength(1);
      expect(error.code).toBe(status.PERMISSION_DENIED);
      expect(permissionDeniedReason(error)).toBe("AGENT_NOT_ACTIVE");
    });

    it("records the renewed serial as current after first use", async () => {
      const server = await start();
      const agent = await server.attest(await server.createJoinToken());
      const before = server.datastore.nodes.get(agent.agentId);

      const renewed = await renew(server, agent);
      const pending = server.datastore.nodes.get(agent.agentId);
      await postStatus(server, renewed);
      const after = server.datastore.nodes.get(agent.agentId);

      expect(pending?.certSerialNumber).toBe(before?.certSerialNumber);
      expect(pending?.newCertSerialNumber).not.toBe("");
      expect(after?.certSerialNumber).toBe(pending?.newCertSerialNumber);
      expect(after?.newCertSerialNumber).toBe("");
    });
  });

  describe("agent authorization", () => {
    it("denies banned agents with AGENT_BANNED", async () => {
      const server = await start();
      const agent = await server.attest(await server.createJoinToken());
      await call((done) => server.admin.agent.BanAgent({ id: { trust_domain: "example.org", path: new URL(agent.agentId).pathname } }, done));

      const error = await callError(async (done) => (await server.agentClients(agent)).agent.PostStatus({}, done));

      expect(error.code).toBe(status.PERMISSION_DENIED);
      expect(permissionDeniedReason(error)).toBe("AGENT_BANNED");
    });

    it("denies evicted agents with AGENT_NOT_ATTESTED", async () => {
      const server = await start();
      const agent = await server.attest(await server.createJoinToken());
      await call((done) => server.admin.agent.DeleteAgent({ id: { trust_domain: "example.org", path: new URL(agent.agentId).pathname } }, done));

      const error = await callError(async (done) => (await server.agentClients(agent)).agent.PostStatus({}, done));

      expect(permissionDeniedReason(error)).toBe("AGENT_NOT_ATTESTED");
    });

    it("denies expired SVIDs with AGENT_EXPIRED", async () => {
      const server = await start({ agentTtlSeconds: 1 });
      const agent = await server.attest(await server.createJoinToken());
      await new Promise((resolve) => setTimeout(resolve, 1500));

      const error = await callError(async (done) => (await server.agentClients(agent)).agent.PostStatus({}, done));

      expect(error.code).toBe(status.PERMISSION_DENIED);
      expect(permissionDeniedReason(error)).toBe("AGENT_EXPIRED");
    });

    it("denies callers without a certificate", async () => {
      const server = await start();
      const clients = await server.anonymousClients();

      const error = await callError((done) => clients.agent.PostStatus({}, done));

      expect(error.code).toBe(status.PERMISSION_DENIED);
      // The agent's decoder reports UNKNOWN for a PermissionDenied without a detail.
      expect(permissionDeniedReason(error)).toBe("UNKNOWN");
    });

    it("keeps admin methods off the TCP endpoint", async () => {
      const server = await start();
      const agent = await server.attest(await server.createJoinToken());

      const error = await callError(async (done) => (await server.agentClients(agent)).agent.ListAgents({}, done));

      expect(error.code).toBe(status.PERMISSION_DENIED);
    });
  });

  describe("admin methods", () => {
    it("creates the entry SPIRE makes for a token with an agent ID", async () => {
      const server = await start();

      const token = await server.createJoinToken({ agentId: "spiffe://example.org/host/node-1" });
      const entries = server.datastore.entries.list({ bySpiffeId: "spiffe://example.org/host/node-1" });

      expect(entries).toHaveLength(1);
      expect(entries[0]).toMatchObject({
        parentId: `spiffe://example.org/spire/agent/join_token/${token}`,
        selectors: [{ type: "spiffe_id", value: `spiffe://example.org/spire/agent/join_token/${token}` }],
      });
    });

    it("requires a positive TTL for join tokens", async () => {
      const server = await start();

      const missing = await callError((done) => server.admin.agent.CreateJoinToken({ ttl: 0 }, done));
      const negative = await callError((done) => server.admin.agent.CreateJoinToken({ ttl: -5 }, done));

      expect(missing.code).toBe(status.INVALID_ARGUMENT);
      expect(missing.details).toBe("invalid TTL 0: the TTL must be a positive number of seconds");
      expect(negative.code).toBe(status.INVALID_ARGUMENT);
      expect(negative.details).toBe("invalid TTL -5: the TTL must be a positive number of seconds");
    });

    it("names an invalid agent ID once", async () => {
      const server = await start();
      const foreign = { trust_domain: "other.org", path: "/host" };
      const outsideNamespace = { trust_domain: "example.org", path: "/host" };

      const tokenError = await callError((done) => server.admin.agent.CreateJoinToken({ ttl: 60, agent_id: foreign }, done));
      const getError = await callError((done) => server.admin.agent.GetAgent({ id: outsideNamespace }, done));

      expect(tokenError.code).toBe(status.INVALID_ARGUMENT);
      expect(tokenError.details).toBe('invalid agent ID: "spiffe://other.org/host" is not a member of trust domain "example.org"');
      expect(getError.code).toBe(status.INVALID_ARGUMENT);
      expect(getError.details).toBe('invalid agent ID: "spiffe://example.org/host" is not in the agent namespace "/spire/agent/"');
    });

    it("lists, shows, bans and deletes agents", async () => {
      const server = await start();
      const agent = await server.attest(await server.createJoinToken());
      const id = { trust_domain: "example.org", path: new URL(agent.agentId).pathname };

      const listed = await call<agentv1.ListAgentsResponse__Output>((done) => server.admin.agent.ListAgents({}, done));
      const shown = await call<types.Agent__Output>((done) => server.admin.agent.GetAgent({ id }, done));
      await call((done) => server.admin.agent.BanAgent({ id }, done));
      const banned = await call<types.Agent__Output>((done) => server.admin.agent.GetAgent({ id }, done));
      await call((done) => server.admin.agent.DeleteAgent({ id }, done));
      const missing = await callError((done) => server.admin.agent.GetAgent({ id }, done));

      expect(listed.agents.map((listedAgent) => listedAgent.id?.path)).toEqual([id.path]);
      expect(shown).toMatchObject({ attestation_type: "join_token", banned: false, can_reattest: false });
      expect(shown.x509svid_serial_number).toMatch(/^[0-9]+$/);
      expect(banned.banned).toBe(true);
      expect(missing.code).toBe(status.NOT_FOUND);
    });
  });
});
