/**
 * The manager against a real tessera-server in this process: an x509pop agent that the
 * server evicts attests again in place, during the first sync and while running, and a
 * banned one stops.
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";

import { createMemoryKeyManager } from "../../../plugins/keymanager/memory.js";
import { createOpensslCa, issueOpensslLeaf } from "../../../plugins/nodeattestor/x509pop/test-openssl-pki.js";
import type { OpensslCredential } from "../../../plugins/nodeattestor/x509pop/test-openssl-pki.js";
import { createX509popAttestor } from "../../../plugins/nodeattestor/x509pop/x509pop-agent.js";
import { parseX509popServerConfig } from "../../../plugins/nodeattestor/x509pop/x509pop-server-config.js";
import { call, protoId, startTestServer } from "../../server/test-support/server-harness.js";
import type { TestServer } from "../../server/test-support/server-harness.js";
import { parsePemCertificates } from "../../spiffe/bundle.js";
import { captureLogger } from "../../workload-api/test-logger.js";
import type { CapturedLogger } from "../../workload-api/test-logger.js";
import { attestNode } from "../attestor/node-attestor.js";
import { createJwtBundleStore } from "../cache/jwt-bundle-store.js";
import { createX509Cache } from "../cache/x509-cache.js";
import type { ServerEndpoint } from "../client/dial.js";
import { createServerClient } from "../client/server-client.js";
import { AgentRejectedError } from "./agent-rejected.js";
import { createReattestor } from "./agent-rotation.js";
import { createAgentSvidRotator } from "./agent-svid-rotator.js";
import type { AgentSvidRotatorOptions } from "./agent-svid-rotator.js";
import type { Manager } from "./manager.js";
import { createManager } from "./manager.js";

let folder: string;
let ca: OpensslCredential;
let leaf: OpensslCredential;

beforeAll(() => {
  folder = mkdtempSync(join(tmpdir(), "tessera-manager-reattest-"));
  ca = createOpensslCa(folder, "nodes-ca");
  leaf = issueOpensslLeaf(folder, "node", ca);
});

afterAll(() => {
  rmSync(folder, { recursive: true, force: true });
});

describe("manager reattestation", () => {
  const cleanups: Array<() => Promise<void> | void> = [];
  afterEach(async () => {
    for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
  });

  /** Starts a server with x509pop, attests an agent to it, and creates its manager. */
  async function attestedAgent(): Promise<{
    server: TestServer;
    manager: Manager;
    agentId: string;
    captured: CapturedLogger;
    rotatorOptions: AgentSvidRotatorOptions;
  }> {
    const server = await startTestServer({ nodeAttestors: { x509pop: parseX509popServerConfig({ ca_bundle_path: ca.certPath }, "x509pop") } });
    cleanups.push(() => server.stop());

    const captured = captureLogger();
    const endpoint: ServerEndpoint = { address: "127.0.0.1", port: server.server.port, trustDomain: "example.org" };
    const keyManager = createMemoryKeyManager();
    const nodeAttestor = createX509popAttestor({ certificatePath: leaf.certPath, privateKeyPath: leaf.keyPath });
    const bundle = parsePemCertificates(await server.bundlePem());
    const initial = await attestNode({ endpoint, bootstrapBundle: bundle, insecureBootstrap: false, keyManager, nodeAttestor, logger: captured.logger });

    const dataDir = mkdtempSync(join(tmpdir(), "tessera-manager-reattest-data-"));
    const cache = createX509Cache({ trustDomain: "example.org", bundle: initial.bundle, logger: captured.logger });
    let manager: Manager | undefined;
    const client = createServerClient({
      endpoint,
      tlsMaterial: () => {
        const current = manager?.agentSvid() ?? initial;
        return { identity: { svidChain: current.svidChain, privateKeyPkcs8: current.key.privateKeyPkcs8 }, bundle: cache.bundle() };
      },
      logger: captured.logger,
    });
    cleanups.push(() => {
      client.close();
      cache.close();
      rmSync(dataDir, { recursive: true, force: true });
    });

    const reattest = createReattestor({ endpoint, keyManager, nodeAttestor, logger: captured.logger });
    const rotatorOptions: AgentSvidRotatorOptions = {
      initial,
      trustDomain: "example.org",
      keyManager,
      client,
      bundle: () => cache.bundle(),
      onRotated: () => client.release(),
      reattest,
      logger: captured.logger,
    };
    manager = createManager({
      trustDomain: "example.org",
      dataDir,
      syncIntervalMs: 200,
      agentSvid: initial,
      keyManager,
      reattest,
      cache,
      jwtBundles: createJwtBundleStore(captured.logger),
      client,
      logger: captured.logger,
    });
    return { server, manager, agentId: initial.spiffeId, captured, rotatorOptions };
  }

  it("attests again during the first sync after eviction", async () => {
    const { server, manager, agentId, captured } = await attestedAgent();
    await call((done) => server.admin.agent.DeleteAgent({ id: protoId(agentId) }, done));

    await manager.initialize(new AbortController().signal);

    expect(manager.agentSvid().key.id).toBe("agent-svid-B");
    expect(server.datastore.nodes.get(agentId)?.canReattest).toBe(true);
    const reattested = captured.lines.find((line) => line.msg === "Agent reattested");
    expect(reattested?.trigger).toBe("AGENT_NOT_ATTESTED");
    expect(reattested?.spiffe_id).toBe(agentId);
  });

  it("attests again while running after eviction", async () => {
    const { server, manager, agentId, captured } = await attestedAgent();
    await manager.initialize(new AbortController().signal);
    const controller = new AbortController();
    const running = manager.run(controller.signal);

    await call((done) => server.admin.agent.DeleteAgent({ id: protoId(agentId) }, done));
    await expect.poll(() => captured.lines.some((line) => line.msg === "Agent reattested"), { timeout: 20_000 }).toBe(true);
    const syncsBefore = captured.lines.filter((line) => line.msg === "Synchronized entries with the server").length;
    await expect
      .poll(() => captured.lines.filter((line) => line.msg === "Synchronized entries with the server").length, { timeout: 20_000 })
      .toBeGreaterThan(syncsBefore);
    controller.abort();

    await expect(running).resolves.toBeUndefined();
    expect(server.datastore.nodes.get(agentId)).toBeDefined();
    expect(captured.lines.find((line) => line.msg === "Agent needs to attest again; attesting again")?.reason).toBe("AGENT_NOT_ATTESTED");
  });

  it("rotates an SVID past its half-life at the first check", async () => {
    const { captured, rotatorOptions } = await attestedAgent();
    const { initial } = rotatorOptions;
    // Pretend the SVID was issued long ago, so only a fifth of its lifetime is left.
    const remainingMs = initial.notAfterMs - Date.now();
    const pastHalfLife = { ...initial, notBeforeMs: initial.notAfterMs - 5 * remainingMs };
    // An hour between checks: only the immediate first check can rotate within this test.
    const rotator = createAgentSvidRotator({ ...rotatorOptions, initial: pastHalfLife, checkIntervalMs: 3_600_000 });
    const controller = new AbortController();

    const running = rotator.run(controller.signal);
    await expect.poll(() => captured.lines.some((line) => line.msg === "Agent reattested"), { timeout: 20_000 }).toBe(true);
    controller.abort();
    await running;

    expect(captured.lines.find((line) => line.msg === "Agent reattested")?.trigger).toBe("rotation");
    expect(rotator.current().key.id).toBe("agent-svid-B");
  });

  it("stops a banned agent without attesting again", async () => {
    const { server, manager, agentId, captured } = await attestedAgent();
    await call((done) => server.admin.agent.BanAgent({ id: protoId(agentId) }, done));

    const error = await manager.initialize(new AbortController().signal).catch((caught: unknown) => caught);

    expect(error).toBeInstanceOf(AgentRejectedError);
    expect((error as AgentRejectedError).reason).toBe("AGENT_BANNED");
    expect(captured.lines.some((line) => line.msg === "Attesting the agent again")).toBe(false);
  });
});
