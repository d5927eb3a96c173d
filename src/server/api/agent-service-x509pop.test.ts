/**
 * AttestAgent with the x509pop NodeAttestor over the real gRPC endpoint: the challenge
 * exchange, reattestation of the same node, and the refusals that send an agent back to
 * attestation.
 */
import { createHash } from "node:crypto";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { status } from "@grpc/grpc-js";
import type { ServiceError } from "@grpc/grpc-js";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";

import type { NodeAttestor } from "../../../plugins/nodeattestor/node-attestor.js";
import { createOpensslCa, issueOpensslLeaf } from "../../../plugins/nodeattestor/x509pop/test-openssl-pki.js";
import type { OpensslCredential } from "../../../plugins/nodeattestor/x509pop/test-openssl-pki.js";
import { createX509popAttestor } from "../../../plugins/nodeattestor/x509pop/x509pop-agent.js";
import { parseX509popServerConfig } from "../../../plugins/nodeattestor/x509pop/x509pop-server-config.js";
import { permissionDeniedReason } from "../../agent/client/permission-denied.js";
import { createCsr } from "../../agent/crypto/csr.js";
import { generateEcP256Pkcs8 } from "../../agent/crypto/ec-key.js";
import type { agentv1 } from "../../proto/index.js";
import { call, callError, protoId, startTestServer } from "../test-support/server-harness.js";
import type { TestAgent, TestServer } from "../test-support/server-harness.js";

let folder: string;
let ca: OpensslCredential;
let leaf: OpensslCredential;
let agentId: string;

beforeAll(() => {
  folder = mkdtempSync(join(tmpdir(), "tessera-x509pop-service-"));
  ca = createOpensslCa(folder, "agents-ca");
  leaf = issueOpensslLeaf(folder, "node-1", ca);
  agentId = `spiffe://example.org/spire/agent/x509pop/${createHash("sha1").update(leaf.der).digest("hex")}`;
});

afterAll(() => {
  rmSync(folder, { recursive: true, force: true });
});

describe("AttestAgent with x509pop", () => {
  const servers: TestServer[] = [];
  afterEach(async () => {
    for (const server of servers.splice(0)) await server.stop();
  });

  async function start(withX509pop = true): Promise<TestServer> {
    const nodeAttestors = withX509pop ? { x509pop: parseX509popServerConfig({ ca_bundle_path: ca.certPath }, "x509pop") } : {};
    const server = await startTestServer({ nodeAttestors });
    servers.push(server);
    return server;
  }

  function attestor(): NodeAttestor {
    return createX509popAttestor({ certificatePath: leaf.certPath, privateKeyPath: leaf.keyPath });
  }

  /**
   * Runs AttestAgent as the agent does: parameters first, then one response per challenge.
   * With `respond` false, the stream is half-closed instead of sending the first challenge response.
   */
  async function attest(server: TestServer, nodeAttestor: NodeAttestor, respond = true): Promise<{ agent: TestAgent; reattestable: boolean; challenges: number }> {
    const clients = await server.anonymousClients();
    const keyPkcs8 = generateEcP256Pkcs8();
    const data = await nodeAttestor.attestationData();
    let challenges = 0;

    const result = await new Promise<agentv1.AttestAgentResponseResult__Output>((resolve, reject) => {
      const stream = clients.agent.AttestAgent();
      stream.on("error", reject);
      stream.on("data", (message: agentv1.AttestAgentResponse__Output) => {
        if (message.step === "result" && message.result) {
          stream.end();
          resolve(message.result);
          return;
        }
        challenges++;
        if (!respond) {
          stream.end();
          return;
        }
        nodeAttestor.respondToChallenge(message.challenge ?? Buffer.alloc(0)).then((response) => stream.write({ challenge_response: response }), reject);
      });
      stream.write({ params: { data: { type: data.type, payload: data.payload }, params: { csr: createCsr(keyPkcs8) } } });
    });

    const svid = result.svid;
    const agent = { agentId: `spiffe://${svid?.id?.trust_domain}${svid?.id?.path}`, chain: svid?.cert_chain ?? [], keyPkcs8 };
    return { agent, reattestable: result.reattestable, challenges };
  }

  async function attestError(server: TestServer, nodeAttestor: NodeAttestor, respond = true): Promise<ServiceError> {
    const error = await attest(server, nodeAttestor, respond).catch((caught: unknown) => caught);
    expect(error).toHaveProperty("code");
    return error as ServiceError;
  }

  async function postStatusError(server: TestServer, agent: TestAgent): Promise<ServiceError> {
    const clients = await server.agentClients(agent);
    return callError((done) => clients.agent.PostStatus({ agent_version: "test" }, done));
  }

  it("answers one challenge and marks the node reattestable", async () => {
    const server = await start();

    const { agent, reattestable, challenges } = await attest(server, attestor());

    expect(challenges).toBe(1);
    expect(reattestable).toBe(true);
    expect(agent.agentId).toBe(agentId);
    const node = server.datastore.nodes.getWithSelectors(agentId);
    expect(node).toMatchObject({ attestationType: "x509pop", canReattest: true });
    expect(node?.selectors.map((selector) => `${selector.type}:${selector.value}`)).toContain("x509pop:subject:cn:node-1");
  });

  it("accepts the same node again and retires its old SVID", async () => {
    const server = await start();
    const first = await attest(server, attestor());

    const second = await attest(server, attestor());

    expect(second.agent.agentId).toBe(first.agent.agentId);
    const stale = await postStatusError(server, first.agent);
    expect(stale.code).toBe(status.PERMISSION_DENIED);
    expect(permissionDeniedReason(stale)).toBe("AGENT_NOT_ACTIVE");
    const clients = await server.agentClients(second.agent);
    await call((done) => clients.agent.PostStatus({ agent_version: "test" }, done));
  });

  it("tells a reattestable agent to attest instead of renewing", async () => {
    const server = await start();
    const { agent } = await attest(server, attestor());
    const clients = await server.agentClients(agent);

    const error = await callError((done) => clients.agent.RenewAgent({ params: { csr: createCsr(generateEcP256Pkcs8()) } }, done));

    expect(error.code).toBe(status.PERMISSION_DENIED);
    expect(permissionDeniedReason(error)).toBe("AGENT_MUST_REATTEST");
  });

  it("reports an evicted agent as not attested until it attests again", async () => {
    const server = await start();
    const { agent } = await attest(server, attestor());
    await call((done) => server.admin.agent.DeleteAgent({ id: protoId(agentId) }, done));

    const error = await postStatusError(server, agent);

    expect(permissionDeniedReason(error)).toBe("AGENT_NOT_ATTESTED");
    const again = await attest(server, attestor());
    expect(again.agent.agentId).toBe(agentId);
  });

  it("rejects a banned node", async () => {
    const server = await start();
    const { agent } = await attest(server, attestor());
    await call((done) => server.admin.agent.BanAgent({ id: protoId(agentId) }, done));

    expect(permissionDeniedReason(await postStatusError(server, agent))).toBe("AGENT_BANNED");
    const error = await attestError(server, attestor());
    expect(error.code).toBe(status.PERMISSION_DENIED);
    expect(error.details).toBe("failed to attest: agent is banned");
  });

  it("rejects a stream that ends before the response", async () => {
    const server = await start();

    const error = await attestError(server, attestor(), false);

    expect(error.code).toBe(status.INVALID_ARGUMENT);
    expect(error.details).toBe("failed to receive challenge response: the stream ended");
  });

  it("rejects a certificate from another CA", async () => {
    const server = await start();
    const outsider = issueOpensslLeaf(folder, "outsider", createOpensslCa(folder, "outside-ca"));

    const error = await attestError(server, createX509popAttestor({ certificatePath: outsider.certPath, privateKeyPath: outsider.keyPath }));

    expect(error.code).toBe(status.PERMISSION_DENIED);
    expect(error.details).toMatch(/^failed to attest: x509pop: certificate verification failed: certificate signed by unknown authority/);
  });

  it("names an attestor that is not configured", async () => {
    const server = await start(false);

    const error = await attestError(server, attestor());

    expect(error.code).toBe(status.FAILED_PRECONDITION);
    expect(error.details).toBe('error getting node attestor: could not find node attestor type "x509pop"');
  });
});
