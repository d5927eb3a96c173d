import { status as Status } from "@grpc/grpc-js";
import type { ServiceError } from "@grpc/grpc-js";
import { beforeAll, describe, expect, it } from "vitest";

import type { debugv1 } from "../../proto/index.js";
import { captureLogger } from "../../workload-api/test-logger.js";
import { createTestRootAuthority, createTestSvid } from "../../workload-api/test-pki.js";
import type { TestAuthority, TestSvid } from "../../workload-api/test-pki.js";
import { createDebugHandlers, GET_INFO_CACHE_MS } from "./debug-service.js";
import type { DebugInfoSource } from "./debug-service.js";

let root: TestAuthority;
let agentSvid: TestSvid;

beforeAll(async () => {
  root = await createTestRootAuthority("example.org");
  agentSvid = await createTestSvid(root, "spiffe://example.org/spire/agent/join_token/t1");
});

/** Creates a source whose values the test changes between calls. */
function mutableSource(): DebugInfoSource & { state: { x509: number; jwt: number; uptime: number; lastSync: Date | undefined; bundle: Buffer[] } } {
  const state = { x509: 3, jwt: 1, uptime: 42.9, lastSync: new Date("2024-01-15T12:00:00.900Z") as Date | undefined, bundle: [root.certificateDer] };
  return {
    state,
    agentSvidChain: () => agentSvid.certChain,
    bundle: () => state.bundle,
    uptimeSeconds: () => state.uptime,
    lastSyncSuccess: () => state.lastSync,
    cachedX509SvidCount: () => state.x509,
    cachedJwtSvidCount: () => state.jwt,
  };
}

function callGetInfo(handlers: ReturnType<typeof createDebugHandlers>): Promise<{ error: ServiceError | null; response: debugv1.GetInfoResponse | undefined }> {
  return new Promise((resolve) => {
    handlers.GetInfo({ request: {} } as never, ((error: ServiceError | null, response?: debugv1.GetInfoResponse) => resolve({ error, response })) as never);
  });
}

describe("Debug GetInfo handler", () => {
  it("reports the agent state", async () => {
    const handlers = createDebugHandlers({ source: mutableSource(), logger: captureLogger().logger });

    const { error, response } = await callGetInfo(handlers);

    expect(error).toBeNull();
    expect(response?.uptime).toBe(42);
    expect(response?.svids_count).toBe(3);
    expect(response?.cached_x509_svids_count).toBe(3);
    expect(response?.cached_jwt_svids_count).toBe(1);
    expect(response?.cached_svidstore_x509_svids_count).toBe(0);
    expect(response?.last_sync_success).toBe(Date.parse("2024-01-15T12:00:00Z") / 1000);
    expect(response?.svid_chain).toEqual([
      {
        id: { trust_domain: "example.org", path: "/spire/agent/join_token/t1" },
        expires_at: Math.floor(agentSvid.notAfter.getTime() / 1000),
        subject: "O=SPIRE,C=US",
      },
      { id: { trust_domain: "example.org", path: "" }, expires_at: Math.floor(root.certificate.notAfter.getTime() / 1000), subject: "CN=example.org root,O=Tessera test" },
    ]);
  });

  it("reports 0 before the first sync", async () => {
    const source = mutableSource();
    source.state.lastSync = undefined;

    const { response } = await callGetInfo(createDebugHandlers({ source, logger: captureLogger().logger }));

    expect(response?.last_sync_success).toBe(0);
  });

  it("reports the SVIDStore count when given", async () => {
    const source = { ...mutableSource(), cachedSvidStoreX509SvidCount: () => 7 };

    const { response } = await callGetInfo(createDebugHandlers({ source, logger: captureLogger().logger }));

    expect(response?.cached_svidstore_x509_svids_count).toBe(7);
  });

  it("reuses a response for five seconds", async () => {
    const source = mutableSource();
    let nowMs = Date.now();
    const handlers = createDebugHandlers({ source, logger: captureLogger().logger, now: () => nowMs });

    await callGetInfo(handlers);
    source.state.x509 = 10;
    nowMs += GET_INFO_CACHE_MS - 1;
    const cached = await callGetInfo(handlers);
    nowMs += 1;
    const fresh = await callGetInfo(handlers);

    expect(GET_INFO_CACHE_MS).toBe(5_000);
    expect(cached.response?.cached_x509_svids_count).toBe(3);
    expect(fresh.response?.cached_x509_svids_count).toBe(10);
  });

  it("fails with Internal when the chain does not verify", async () => {
    const source = mutableSource();
    source.state.bundle = [(await createTestRootAuthority("example.org")).certificateDer];
    const captured = captureLogger();

    const { error, response } = await callGetInfo(createDebugHandlers({ source, logger: captured.logger }));

    expect(response).toBeUndefined();
    expect(error?.code).toBe(Status.INTERNAL);
    expect(error?.details).toMatch(/^failed to verify agent SVID: failed to verify X.509-SVID/);
    expect(captured.lines.map((line) => line.msg)).toContain("Failed to verify the agent SVID for Debug/GetInfo");
  });

  it("does not cache a failure", async () => {
    const source = mutableSource();
    const goodBundle = source.state.bundle;
    source.state.bundle = [];
    const nowMs = Date.now();
    const handlers = createDebugHandlers({ source, logger: captureLogger().logger, now: () => nowMs });

    const failed = await callGetInfo(handlers);
    source.state.bundle = goodBundle;
    const succeeded = await callGetInfo(handlers);

    expect(failed.error?.code).toBe(Status.INTERNAL);
    expect(succeeded.error).toBeNull();
  });

  it("rejects counts beyond int32", async () => {
    const source = mutableSource();
    source.state.jwt = 2 ** 31;

    const { error } = await callGetInfo(createDebugHandlers({ source, logger: captureLogger().logger }));

    expect(error?.code).toBe(Status.INTERNAL);
    expect(error?.details).toBe("the cached JWT-SVID count 2147483648 does not fit the response's int32 field");
  });
});
