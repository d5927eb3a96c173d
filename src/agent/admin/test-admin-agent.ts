import { join } from "node:path";

import { createLogger, createLogLevelController } from "../../common/log.js";
import type { LogFormat, Logger, LogLevelController } from "../../common/log.js";
import { createTestIntermediateAuthority, createTestRootAuthority, createTestSvid } from "../../workload-api/test-pki.js";
import type { TestAuthority, TestSvid } from "../../workload-api/test-pki.js";
import { createJwtSvidCache } from "../cache/jwt-svid-cache.js";
import { testEntry } from "../cache/test-entry.js";
import { createX509Cache } from "../cache/x509-cache.js";
import { startAdminEndpoint } from "./admin-endpoint.js";
import type { AdminEndpoint } from "./admin-endpoint.js";
import type { DebugInfoSource } from "./debug-service.js";

/** Seconds the test agent always reports as uptime, so that outputs are predictable. */
export const TEST_UPTIME_SECONDS = 90;

/** An admin endpoint over real agent caches, for tests of the admin API and its CLI verbs. */
export interface TestAdminAgent {
  endpoint: AdminEndpoint;
  /** The public socket path the admin socket was checked against (nothing listens there). */
  publicSocketPath: string;
  /** File the agent logger writes to, at INFO when it starts. */
  logPath: string;
  logger: Logger;
  levels: LogLevelController;
  root: TestAuthority;
  intermediate: TestAuthority;
  agentSvid: TestSvid;
  lastSync: Date;
  stop(): Promise<void>;
}

/**
 * Starts an admin endpoint on `<folder>/private/admin.sock` (public socket
 * `<folder>/public/api.sock`) that reports a real X.509 cache with two workload SVIDs and
 * a real JWT-SVID cache with one token. The agent SVID chains to `root` through
 * `intermediate` (trust domain example.org).
 */
export async function startTestAdminAgent(folder: string, logFormat: LogFormat = "json"): Promise<TestAdminAgent> {
  const logPath = join(folder, "agent.log");
  const logger = createLogger({ name: "tessera-agent", level: "INFO", destination: logPath, format: logFormat });
  const levels = createLogLevelController(logger);

  const root = await createTestRootAuthority("example.org");
  const intermediate = await createTestIntermediateAuthority(root, "example.org");
  const agentSvid = await createTestSvid(intermediate, "spiffe://example.org/spire/agent/join_token/test");

  const cache = createX509Cache({ trustDomain: "example.org", bundle: [root.certificateDer], logger: logger.child({ subsystem: "cache_manager" }) });
  const entries = new Map([
    ["web", testEntry("web", ["unix:uid:1000"])],
    ["db", testEntry("db", ["unix:uid:1001"])],
  ]);
  cache.update(entries, new Map([["example.org", [root.certificateDer]]]));
  const svids = new Map();
  for (const entry of entries.values()) {
    const svid = await createTestSvid(intermediate, entry.spiffeId);
    svids.set(entry.id, {
      certChain: svid.certChain,
      privateKeyPkcs8: svid.privateKeyPkcs8,
      spiffeId: entry.spiffeId,
      entryRevision: entry.revisionNumber,
      notBeforeMs: Date.now() - 60_000,
      notAfterMs: svid.notAfter.getTime(),
    });
  }
  cache.storeSvids(svids);

  const nowSeconds = Math.floor(Date.now() / 1000);
  const jwtSvids = createJwtSvidCache({
    mint: async (_entryId, _audience) => ({ token: "header.payload.signature", spiffeId: "spiffe://example.org/web", hint: "", issuedAt: nowSeconds, expiresAt: nowSeconds + 300 }),
    logger: logger.child({ subsystem: "manager" }),
  });
  await jwtSvids.fetch("web", "spiffe://example.org/web", ["audience-a"]);

  const lastSync = new Date(Math.floor(Date.now() / 1000) * 1000 - 2_000);
  const source: DebugInfoSource = {
    agentSvidChain: () => agentSvid.certChain,
    bundle: () => cache.bundle(),
    uptimeSeconds: () => TEST_UPTIME_SECONDS,
    lastSyncSuccess: () => lastSync,
    cachedX509SvidCount: () => cache.svidCount(),
    cachedJwtSvidCount: () => jwtSvids.size(),
  };

  const publicSocketPath = join(folder, "public", "api.sock");
  const endpoint = await startAdminEndpoint({
    socketPath: join(folder, "private", "admin.sock"),
    publicSocketPath,
    debug: source,
    logLevels: levels,
    logger,
  });

  return {
    endpoint,
    publicSocketPath,
    logPath,
    logger,
    levels,
    root,
    intermediate,
    agentSvid,
    lastSync,
    async stop() {
      await endpoint.close();
      cache.close();
    },
  };
}
