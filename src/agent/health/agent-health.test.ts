import { pino } from "pino";
import { afterEach, describe, expect, it } from "vitest";

import type { CachedEntry, CachedX509Svid } from "../cache/cache-types.js";
import { createJwtSvidCache } from "../cache/jwt-svid-cache.js";
import { testEntry } from "../cache/test-entry.js";
import { createX509Cache } from "../cache/x509-cache.js";
import type { X509Cache } from "../cache/x509-cache.js";
import { createServerReachability } from "../manager/server-reachability.js";
import type { ServerReachabilityRecorder } from "../manager/server-reachability.js";
import { createAgentHealth, SYNC_ATTEMPT_ALLOWANCE_MS } from "./agent-health.js";
import type { AgentHealth } from "./agent-health.js";
import type { WorkloadApiProbeResult } from "./workload-api-probe.js";

const logger = pino({ level: "silent" });
const HOUR = 3_600_000;
const SYNC_INTERVAL_MS = 5_000;
const ROOT = Buffer.from("root");

let nowMs: number;
let cache: X509Cache;
let reachability: ServerReachabilityRecorder;
let started: boolean;
let probeResult: WorkloadApiProbeResult;

afterEach(() => {
  cache.close();
});

function newHealth(): AgentHealth {
  nowMs = 10 * HOUR;
  cache = createX509Cache({ trustDomain: "example.org", bundle: [ROOT], logger, now: () => nowMs });
  reachability = createServerReachability(logger);
  started = true;
  probeResult = { state: "serving" };
  return createAgentHealth({
    sources: {
      x509Cache: cache,
      jwtSvidCache: createJwtSvidCache({ mint: () => Promise.reject(new Error("no server")), maxSize: 10, serverUnreachable: () => true, logger }),
      reachability,
      agentSvid: () => ({ spiffeId: "spiffe://example.org/agent", notAfterMs: 20 * HOUR }),
    },
    workloadApiStarted: () => started,
    probeWorkloadApi: async () => probeResult,
    syncIntervalMs: SYNC_INTERVAL_MS,
    now: () => nowMs,
  });
}

function storeEntryWithSvid(entry: CachedEntry, notAfterMs: number): void {
  cache.update(new Map([[entry.id, entry]]), new Map([["example.org", [ROOT]]]));
  const svid: CachedX509Svid = {
    certChain: [Buffer.from("leaf")],
    privateKeyPkcs8: Buffer.from("key"),
    spiffeId: entry.spiffeId,
    entryRevision: entry.revisionNumber,
    notBeforeMs: 0,
    notAfterMs,
  };
  cache.storeSvids(new Map([[entry.id, svid]]));
}

describe("agent health", () => {
  it("is live and ready when the Workload API serves and syncs succeed", async () => {
    const health = newHealth();
    reachability.recordSuccess(nowMs);

    const report = await health.check();

    expect(report.live).toBe(true);
    expect(report.ready).toBe(true);
    expect(report.subsystems.agent?.details).toMatchObject({ started: true, workload_api: "serving", trust_bundle: true, spiffe_id: "spiffe://example.org/agent" });
    expect(report.subsystems.manager?.details).toMatchObject({ server_reachable: true, degraded: false, last_successful_sync: new Date(nowMs).toISOString() });
  });

  it("is live but not ready while the Workload API has not started", async () => {
    const health = newHealth();
    started = false;

    const report = await health.check();

    expect(report.live).toBe(true);
    expect(report.ready).toBe(false);
    expect(report.subsystems.agent?.details).toMatchObject({ started: false, workload_api: "not_started" });
  });

  it("is neither live nor ready when the socket does not respond", async () => {
    const health = newHealth();
    probeResult = { state: "unavailable", error: "the Workload API socket did not respond: connect ENOENT" };

    const report = await health.check();

    expect(report.live).toBe(false);
    expect(report.ready).toBe(false);
    expect(report.subsystems.agent?.details.make_new_x509_err).toBe("the Workload API socket did not respond: connect ENOENT");
  });

  it("is not ready while the Workload API reports NOT_SERVING", async () => {
    const health = newHealth();
    probeResult = { state: "not_serving" };

    const report = await health.check();

    expect(report.live).toBe(true);
    expect(report.ready).toBe(false);
    expect(report.subsystems.agent?.ready).toBe(false);
  });
});

describe("server outage", () => {
  it("stays ready but degraded while cached SVIDs are valid", async () => {
    const health = newHealth();
    storeEntryWithSvid(testEntry("web", ["unix:uid:1000"]), 12 * HOUR);
    reachability.recordSuccess(nowMs - 60_000);
    reachability.recordFailure(new Error("connection refused"), nowMs - 10_000);

    const report = await health.check();

    expect(report.ready).toBe(true);
    expect(report.live).toBe(true);
    expect(report.subsystems.manager?.details).toMatchObject({
      server_reachable: false,
      degraded: true,
      failed_syncs: 1,
      last_error: "connection refused",
      unreachable_since: new Date(nowMs - 10_000).toISOString(),
      usable_x509_svids: 1,
    });
  });

  it("is not ready once no cached SVID is valid", async () => {
    const health = newHealth();
    storeEntryWithSvid(testEntry("web", ["unix:uid:1000"]), 12 * HOUR);
    reachability.recordFailure(new Error("connection refused"), nowMs);
    nowMs = 13 * HOUR;
    reachability.recordFailure(new Error("connection refused"), nowMs);

    const report = await health.check();

    expect(report.ready).toBe(false);
    expect(report.subsystems.manager?.details.serve_error).toBe("the server is unreachable and no cached X.509-SVID is still valid");
  });
});

describe("sync loop liveness", () => {
  // The maximum backoff for a 5 s interval is 4 min, and jitter adds up to 10 %.
  const limitMs = Math.round(4 * 60_000 * 1.1) + SYNC_ATTEMPT_ALLOWANCE_MS;

  it("stays live while sync attempts fail but keep coming", async () => {
    const health = newHealth();
    reachability.recordFailure(new Error("connection refused"), nowMs);
    nowMs += limitMs;

    expect((await health.check()).live).toBe(true);
  });

  it("is not live when no sync attempt ended for too long", async () => {
    const health = newHealth();
    reachability.recordSuccess(nowMs);
    nowMs += limitMs + 1_000;

    const report = await health.check();

    expect(report.live).toBe(false);
    expect(report.subsystems.manager?.live).toBe(false);
    expect(report.subsystems.manager?.details.sync_loop_error).toMatch(/^no sync attempt ended in the last \d+ s; the limit is \d+ s$/);
  });

  it("counts from start-up before the first attempt", async () => {
    const health = newHealth();
    nowMs += limitMs + 1_000;

    expect((await health.check()).live).toBe(false);
  });
});
