import { mkdtempSync, rmSync } from "node:fs";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";

import { pino } from "pino";
import { afterEach, beforeAll, describe, expect, it } from "vitest";

import { createMemoryKeyManager } from "../../../plugins/keymanager/memory.js";
import type { TestAuthority, TestSvid } from "../../workload-api/test-pki.js";
import { createTestRootAuthority, createTestSvid } from "../../workload-api/test-pki.js";
import type { AgentSvidState } from "../attestor/agent-svid.js";
import { captureLogger } from "../../workload-api/test-logger.js";
import { createJwtBundleStore } from "../cache/jwt-bundle-store.js";
import { createX509Cache } from "../cache/x509-cache.js";
import type { ServerClient } from "../client/server-client.js";
import { createServerClient } from "../client/server-client.js";
import type { Manager } from "./manager.js";
import { createManager } from "./manager.js";
import { ServerRpcError } from "../client/rpc-failure.js";
import { createServerReachability, SERVING_CACHED_SVIDS_MESSAGE } from "./server-reachability.js";
import type { ServerReachabilityRecorder } from "./server-reachability.js";

const TRUST_DOMAIN = "example.org";
const silent = pino({ level: "silent" });

let root: TestAuthority;
let agentSvid: TestSvid;
let closedPort: number;

beforeAll(async () => {
  root = await createTestRootAuthority(TRUST_DOMAIN);
  agentSvid = await createTestSvid(root, `spiffe://${TRUST_DOMAIN}/spire/agent/test`);
  // A port that was free a moment ago and now refuses connections, like a server that is down.
  closedPort = await new Promise<number>((resolvePort) => {
    const probe = createServer().listen(0, "127.0.0.1", () => {
      const address = probe.address();
      probe.close(() => resolvePort(typeof address === "object" && address !== null ? address.port : 0));
    });
  });
});

describe("Manager.initialize", () => {
  const cleanups: Array<() => void> = [];
  afterEach(() => {
    for (const cleanup of cleanups.splice(0)) cleanup();
  });

  /** Overrides of the agent SVID state, and the reachability's logger. */
  interface ManagerSetup {
    notAfterMs?: number;
    reattestable?: boolean;
    reachabilityLogger?: typeof silent;
  }

  function newManager(setup: ManagerSetup = {}): { manager: Manager; reachability: ServerReachabilityRecorder } {
    const dataDir = mkdtempSync(join(tmpdir(), "tessera-manager-"));
    const state: AgentSvidState = {
      svidChain: agentSvid.certChain,
      key: { id: "agent-svid-A", privateKeyPkcs8: agentSvid.privateKeyPkcs8 },
      bundle: [root.certificateDer],
      spiffeId: `spiffe://${TRUST_DOMAIN}/spire/agent/test`,
      notBeforeMs: Date.now() - 60_000,
      notAfterMs: setup.notAfterMs ?? agentSvid.notAfter.getTime(),
      reattestable: setup.reattestable ?? false,
    };
    const cache = createX509Cache({ trustDomain: TRUST_DOMAIN, bundle: state.bundle, logger: silent });
    const client: ServerClient = createServerClient({
      endpoint: { address: "127.0.0.1", port: closedPort, trustDomain: TRUST_DOMAIN },
      tlsMaterial: () => ({ identity: { svidChain: state.svidChain, privateKeyPkcs8: state.key.privateKeyPkcs8 }, bundle: state.bundle }),
      logger: silent,
    });
    cleanups.push(() => {
      client.close();
      cache.close();
      rmSync(dataDir, { recursive: true, force: true });
    });

    const reachability = createServerReachability(setup.reachabilityLogger ?? silent);
    const manager = createManager({
      trustDomain: TRUST_DOMAIN,
      dataDir,
      syncIntervalMs: 1_000,
      agentSvid: state,
      keyManager: createMemoryKeyManager(),
      cache,
      jwtBundles: createJwtBundleStore(silent),
      client,
      reachability,
      initialSyncRetryLimitMs: 0,
      serverAddress: `127.0.0.1:${closedPort}`,
      logger: silent,
    });
    return { manager, reachability };
  }

  it("gives up at the retry limit", async () => {
    const { manager, reachability } = newManager();

    const error = await manager.initialize(new AbortController().signal).catch((caught: unknown) => caught);

    expect(error).toBeInstanceOf(ServerRpcError);
    const message = (error as Error).message;
    expect(message).toContain(`the first sync with the server at 127.0.0.1:${closedPort} failed for`);
    expect(message).toContain("(the retry limit is 0s); last error: failed to fetch authorized entries: UNAVAILABLE");
    expect(message).toContain("Check that server_address and server_port name the server and that it runs");
    expect(message).toContain("With runtime_dir on tmpfs, a restarted agent serves its cached SVIDs while the server is down");
    expect(reachability.state().reachable).toBe(false);
    expect(reachability.state().consecutiveFailures).toBe(1);
  });

  it("retries past the limit while keepRetrying is true", async () => {
    const { manager, reachability } = newManager();
    let keepRetryingCalls = 0;

    await expect(manager.initialize(new AbortController().signal, { keepRetrying: () => ++keepRetryingCalls <= 2 })).rejects.toThrow(/UNAVAILABLE/);

    expect(keepRetryingCalls).toBe(3);
    expect(reachability.state().consecutiveFailures).toBe(3);
  });

  it("says when restored SVIDs expired", async () => {
    const { manager } = newManager();

    await expect(manager.initialize(new AbortController().signal, { keepRetrying: () => false })).rejects.toThrow(
      "(the retry limit is 0s, extended only while SVIDs restored from the runtime cache were valid); last error: failed to fetch authorized entries: UNAVAILABLE",
    );
  });

  it("exits when the agent SVID expires", async () => {
    const notAfterMs = Date.now() + 200;
    const { manager } = newManager({ notAfterMs });

    const error = await manager.initialize(new AbortController().signal, { keepRetrying: () => true }).catch((caught: unknown) => caught);

    const message = (error as Error).message;
    expect(message).toContain(`the agent SVID spiffe://${TRUST_DOMAIN}/spire/agent/test expires at ${new Date(notAfterMs).toISOString()}`);
    expect(message).toContain("which stayed unreachable (last error: failed to fetch authorized entries: UNAVAILABLE");
    expect(message).toContain("The agent must attest again: start it with a new join token");
  });

  it("tells a reattestable agent it attests again", async () => {
    const { manager } = newManager({ notAfterMs: Date.now() + 200, reattestable: true });

    await expect(manager.initialize(new AbortController().signal, { keepRetrying: () => true })).rejects.toThrow(
      "The agent must attest again: start the agent again once the server runs, and it attests again with its node attestor",
    );
  });

  it("logs the first-sync outage line", async () => {
    const captured = captureLogger();
    const { manager, reachability } = newManager({ reachabilityLogger: captured.logger });

    await expect(manager.initialize(new AbortController().signal)).rejects.toThrow(/UNAVAILABLE/);

    const warnings = captured.lines.filter((line) => line.level === 40).map((line) => line.msg);
    expect(warnings).toHaveLength(1);
    expect(warnings[0]).toContain("Server unreachable; the first sync is retried for up to 0s before the agent gives up");
    expect(warnings[0]).toContain("No Workload API socket is open until it succeeds");

    reachability.recordSuccess();
    reachability.recordFailure(new Error("connection refused"));
    expect(captured.lines.at(-1)?.msg).toBe(SERVING_CACHED_SVIDS_MESSAGE);
  });

  it("logs the restored-SVIDs outage line", async () => {
    const captured = captureLogger();
    const { manager } = newManager({ reachabilityLogger: captured.logger });

    await expect(manager.initialize(new AbortController().signal, { keepRetrying: () => false })).rejects.toThrow(/UNAVAILABLE/);

    const warnings = captured.lines.filter((line) => line.level === 40).map((line) => line.msg);
    expect(warnings).toEqual([
      "Server unreachable; serving the SVIDs restored from the runtime cache while the first sync is retried, until they or the agent SVID expire",
    ]);
  });

  it("stops retrying when the signal aborts", async () => {
    const { manager, reachability } = newManager();
    const controller = new AbortController();
    reachability.onChange(() => controller.abort());

    await expect(manager.initialize(controller.signal, { keepRetrying: () => true })).rejects.toThrow(/UNAVAILABLE/);

    expect(reachability.state().consecutiveFailures).toBe(1);
  });
});
