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
import { createJwtBundleStore } from "../cache/jwt-bundle-store.js";
import { createX509Cache } from "../cache/x509-cache.js";
import type { ServerClient } from "../client/server-client.js";
import { createServerClient } from "../client/server-client.js";
import type { Manager } from "./manager.js";
import { createManager } from "./manager.js";
import { createServerReachability } from "./server-reachability.js";
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

  function newManager(): { manager: Manager; reachability: ServerReachabilityRecorder } {
    const dataDir = mkdtempSync(join(tmpdir(), "tessera-manager-"));
    const state: AgentSvidState = {
      svidChain: agentSvid.certChain,
      key: { id: "agent-svid-A", privateKeyPkcs8: agentSvid.privateKeyPkcs8 },
      bundle: [root.certificateDer],
      spiffeId: `spiffe://${TRUST_DOMAIN}/spire/agent/test`,
      notBeforeMs: Date.now() - 60_000,
      notAfterMs: agentSvid.notAfter.getTime(),
      reattestable: false,
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

    const reachability = createServerReachability(silent);
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
      logger: silent,
    });
    return { manager, reachability };
  }

  it("gives up at the retry limit", async () => {
    const { manager, reachability } = newManager();

    await expect(manager.initialize(new AbortController().signal)).rejects.toThrow(/failed to fetch authorized entries: UNAVAILABLE/);

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

  it("stops retrying when the signal aborts", async () => {
    const { manager, reachability } = newManager();
    const controller = new AbortController();
    reachability.onChange(() => controller.abort());

    await expect(manager.initialize(controller.signal, { keepRetrying: () => true })).rejects.toThrow(/UNAVAILABLE/);

    expect(reachability.state().consecutiveFailures).toBe(1);
  });
});
