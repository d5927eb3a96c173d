import { status as Status } from "@grpc/grpc-js";
import { pino } from "pino";
import { afterEach, describe, expect, it } from "vitest";

import type { CachedEntry, CachedX509Svid } from "../cache/cache-types.js";
import { createJwtSvidCache } from "../cache/jwt-svid-cache.js";
import { testEntry } from "../cache/test-entry.js";
import { createX509Cache } from "../cache/x509-cache.js";
import type { X509Cache } from "../cache/x509-cache.js";
import type { TelemetryConfig } from "../config/telemetry-block.js";
import { createServerReachability } from "../manager/server-reachability.js";
import type { SyncOutcome } from "../manager/sync.js";
import { createAgentMetrics } from "./agent-metrics.js";
import type { AgentMetrics } from "./agent-metrics.js";

const logger = pino({ level: "silent" });
const TELEMETRY: TelemetryConfig = { metricPrefix: "spire_agent", enableTrustDomainLabel: false, enableHostnameLabel: false };
const caches: X509Cache[] = [];

afterEach(() => {
  for (const cache of caches.splice(0)) cache.close();
});

function newMetrics(telemetry: Partial<TelemetryConfig> = {}): AgentMetrics {
  return createAgentMetrics({ telemetry: { ...TELEMETRY, ...telemetry }, trustDomain: "example.org", version: "1.2.3", hostName: "node-1" });
}

function svidFor(entry: CachedEntry, notAfterMs: number): CachedX509Svid {
  return {
    certChain: [Buffer.from(`leaf-${entry.id}`)],
    privateKeyPkcs8: Buffer.from("key"),
    spiffeId: entry.spiffeId,
    entryRevision: entry.revisionNumber,
    notBeforeMs: 0,
    notAfterMs,
  };
}

/** Returns the value of the sample line that starts with `series` (name and labels exactly as printed). */
function sampleValue(text: string, series: string): number | undefined {
  const line = text.split("\n").find((candidate) => candidate.startsWith(`${series} `));
  return line === undefined ? undefined : Number(line.slice(series.length + 1));
}

const syncOutcome: SyncOutcome = {
  entries: { total: 3, missing: 2, stale: 1, dropped: 4, revisionPages: 0 },
  cache: { added: 2, changed: 1, removed: 4, bundleChanged: false },
  bundles: 2,
  jwtBundleChanged: false,
  taintedJwtKeyIds: [],
};

describe("Workload API call metrics", () => {
  it("counts calls per method and status with SPIRE's names", async () => {
    const metrics = newMetrics();
    const calls = metrics.workloadApiCalls;

    calls.callStarted("/SpiffeWorkloadAPI/FetchX509SVID", 4242);
    calls.callFinished({ path: "/SpiffeWorkloadAPI/FetchX509SVID", code: Status.OK, elapsedMs: 12, callerPid: 4242 });
    calls.callStarted("/SpiffeWorkloadAPI/FetchX509SVID", 4243);
    calls.callFinished({ path: "/SpiffeWorkloadAPI/FetchX509SVID", code: Status.PERMISSION_DENIED, elapsedMs: 3, callerPid: 4243 });
    calls.callStarted("/SpiffeWorkloadAPI/FetchJWTSVID", 4242);
    calls.callFinished({ path: "/SpiffeWorkloadAPI/FetchJWTSVID", code: Status.OK, elapsedMs: 5, callerPid: 4242 });
    const text = await metrics.registry.metrics();

    expect(sampleValue(text, 'spire_agent_rpc_workload_api_fetch_x509svid{status="OK"}')).toBe(1);
    expect(sampleValue(text, 'spire_agent_rpc_workload_api_fetch_x509svid{status="PermissionDenied"}')).toBe(1);
    expect(sampleValue(text, 'spire_agent_rpc_workload_api_fetch_jwtsvid{status="OK"}')).toBe(1);
    expect(sampleValue(text, 'spire_agent_rpc_workload_api_fetch_x509svid_elapsed_time_sum{status="OK"}')).toBe(12);
    expect(sampleValue(text, "spire_agent_workload_api_connection")).toBe(3);
    expect(sampleValue(text, "spire_agent_workload_api_connections")).toBe(0);
  });

  it("reports calls still open as connections", async () => {
    const metrics = newMetrics();

    metrics.workloadApiCalls.callStarted("/SpiffeWorkloadAPI/FetchX509SVID", 4242);
    const text = await metrics.registry.metrics();

    expect(sampleValue(text, "spire_agent_workload_api_connections")).toBe(1);
  });

  it("leaves out the agent's own calls", async () => {
    const metrics = newMetrics();

    metrics.workloadApiCalls.callStarted("/grpc.health.v1.Health/Check", process.pid);
    metrics.workloadApiCalls.callFinished({ path: "/grpc.health.v1.Health/Check", code: Status.OK, elapsedMs: 1, callerPid: process.pid });
    const text = await metrics.registry.metrics();

    expect(text).not.toContain("spire_agent_rpc_health_check");
    expect(sampleValue(text, "spire_agent_workload_api_connection")).toBe(0);
  });
});

describe("workload attestation metrics", () => {
  it("counts attestor runs per attestor and status", async () => {
    const metrics = newMetrics();
    const observer = metrics.workloadAttestation;

    observer.attestorFinished({ attestor: "unix", result: "ok", elapsedMs: 1 });
    observer.attestorFinished({ attestor: "k8s", result: "failed", elapsedMs: 2 });
    observer.attestorFinished({ attestor: "k8s", result: "timed_out", elapsedMs: 35_000 });
    observer.attestationFinished({ result: "ok", elapsedMs: 3, selectorCount: 4 });
    observer.attestationFinished({ result: "cancelled", elapsedMs: 3, selectorCount: 0 });
    const text = await metrics.registry.metrics();

    expect(sampleValue(text, 'spire_agent_workload_api_workload_attestor{attestor="unix",status="OK"}')).toBe(1);
    expect(sampleValue(text, 'spire_agent_workload_api_workload_attestor{attestor="k8s",status="Unknown"}')).toBe(1);
    expect(sampleValue(text, 'spire_agent_workload_api_workload_attestor{attestor="k8s",status="DeadlineExceeded"}')).toBe(1);
    expect(sampleValue(text, 'spire_agent_workload_api_workload_attestation{status="OK"}')).toBe(1);
    expect(sampleValue(text, 'spire_agent_workload_api_workload_attestation{status="Canceled"}')).toBe(1);
    expect(sampleValue(text, "spire_agent_workload_api_discovered_selectors_sum")).toBe(4);
  });
});

describe("manager metrics", () => {
  it("records a successful sync and its counts", async () => {
    const metrics = newMetrics();

    metrics.manager.entriesSynced({ elapsedMs: 20, value: syncOutcome });
    const text = await metrics.registry.metrics();

    expect(sampleValue(text, 'spire_agent_manager_sync_fetch_entries_updates{status="OK"}')).toBe(1);
    expect(sampleValue(text, "spire_agent_sync_entries_total")).toBe(3);
    expect(sampleValue(text, "spire_agent_sync_entries_missing")).toBe(2);
    expect(sampleValue(text, "spire_agent_sync_entries_stale")).toBe(1);
    expect(sampleValue(text, "spire_agent_sync_entries_dropped")).toBe(4);
    expect(sampleValue(text, "spire_agent_sync_bundles_total")).toBe(2);
    expect(sampleValue(text, "spire_agent_lru_cache_entry_add")).toBe(2);
    expect(sampleValue(text, "spire_agent_lru_cache_entry_update")).toBe(1);
    expect(sampleValue(text, "spire_agent_lru_cache_entry_remove")).toBe(4);
  });

  it("records a failed sync with the gRPC status of its error", async () => {
    const metrics = newMetrics();
    const error = new Error("failed to sync entries", { cause: Object.assign(new Error("connect failed"), { code: Status.UNAVAILABLE }) });

    metrics.manager.entriesSynced({ elapsedMs: 20, error });
    const text = await metrics.registry.metrics();

    expect(sampleValue(text, 'spire_agent_manager_sync_fetch_entries_updates{status="Unavailable"}')).toBe(1);
    // Unchanged from its initial value: a failed sync has no counts to report.
    expect(sampleValue(text, "spire_agent_sync_entries_total")).toBe(0);
  });

  it("records agent SVID rotations and the time of the last success", async () => {
    const metrics = newMetrics();
    const before = Date.now() / 1000;

    metrics.manager.agentSvidRotated({ elapsedMs: 7, value: undefined });
    metrics.manager.agentSvidRotated({ elapsedMs: 7, error: new Error("the server rejected the renewal") });
    const text = await metrics.registry.metrics();

    expect(sampleValue(text, 'spire_agent_agent_svid_rotate{status="OK"}')).toBe(1);
    expect(sampleValue(text, 'spire_agent_agent_svid_rotate{status="Unknown"}')).toBe(1);
    expect(sampleValue(text, "tessera_agent_agent_svid_last_rotation_timestamp_seconds")).toBeGreaterThanOrEqual(before);
  });
});

describe("state gauges", () => {
  it("read the caches, reachability and expiry times at each scrape", async () => {
    const metrics = newMetrics();
    const cache = createX509Cache({ trustDomain: "example.org", bundle: [Buffer.from("root")], logger, now: () => 0 });
    caches.push(cache);
    const a = testEntry("a", ["unix:uid:1000"]);
    const b = testEntry("b", ["unix:uid:1001"]);
    cache.update(new Map([["a", a], ["b", b]]), new Map([["example.org", [Buffer.from("root")]]]));
    cache.storeSvids(new Map([["a", svidFor(a, 5_000_000)], ["b", svidFor(b, 3_000_000)]]));
    const reachability = createServerReachability(logger);
    const jwtSvids = createJwtSvidCache({ mint: () => Promise.reject(new Error("no server")), maxSize: 10, serverUnreachable: () => true, logger });
    metrics.observe({
      x509Cache: cache,
      jwtSvidCache: jwtSvids,
      reachability,
      agentSvid: () => ({ spiffeId: "spiffe://example.org/agent", notAfterMs: 9_000_000 }),
    });

    reachability.recordSuccess(1_000_000);
    reachability.recordFailure(new Error("connection refused"), 2_000_000);
    const text = await metrics.registry.metrics();

    expect(sampleValue(text, "spire_agent_lru_cache_record_map_size")).toBe(2);
    expect(sampleValue(text, 'spire_agent_lru_cache_svid_map_size{svid_type="X509"}')).toBe(2);
    expect(sampleValue(text, "spire_agent_jwt_svid_cache_size")).toBe(0);
    expect(sampleValue(text, "tessera_agent_server_reachable")).toBe(0);
    expect(sampleValue(text, "tessera_agent_sync_consecutive_failures")).toBe(1);
    expect(sampleValue(text, "tessera_agent_last_successful_sync_timestamp_seconds")).toBe(1_000);
    expect(sampleValue(text, "tessera_agent_last_sync_attempt_timestamp_seconds")).toBe(2_000);
    expect(sampleValue(text, "tessera_agent_agent_svid_expiry_timestamp_seconds")).toBe(9_000);
    expect(sampleValue(text, "tessera_agent_x509_svid_earliest_expiry_timestamp_seconds")).toBe(3_000);
  });

  it("report 0 before the agent's state is attached", async () => {
    const text = await newMetrics().registry.metrics();

    expect(sampleValue(text, "tessera_agent_server_reachable")).toBe(0);
    expect(sampleValue(text, "tessera_agent_x509_svid_earliest_expiry_timestamp_seconds")).toBe(0);
    expect(sampleValue(text, "spire_agent_lru_cache_record_map_size")).toBe(0);
  });
});

describe("metric naming options", () => {
  it("applies MetricPrefix to SPIRE's metrics only", async () => {
    const metrics = newMetrics({ metricPrefix: "edge_agent" });

    metrics.manager.entriesSynced({ elapsedMs: 1, value: syncOutcome });
    const text = await metrics.registry.metrics();

    expect(sampleValue(text, 'edge_agent_manager_sync_fetch_entries_updates{status="OK"}')).toBe(1);
    expect(text).not.toContain("spire_agent_");
    expect(text).toContain("tessera_agent_server_reachable");
  });

  it("adds trust_domain to every SPIRE metric and host to SPIRE gauges", async () => {
    const metrics = newMetrics({ enableTrustDomainLabel: true, enableHostnameLabel: true });

    metrics.manager.entriesSynced({ elapsedMs: 1, value: syncOutcome });
    const text = await metrics.registry.metrics();

    expect(sampleValue(text, 'spire_agent_manager_sync_fetch_entries_updates{status="OK",trust_domain="example.org"}')).toBe(1);
    expect(sampleValue(text, 'spire_agent_sync_entries_total{trust_domain="example.org",host="node-1"}')).toBe(3);
    expect(sampleValue(text, 'spire_agent_started{version="1.2.3",trust_domain_id="spiffe://example.org",trust_domain="example.org",host="node-1"}')).toBe(1);
  });

  it("reports the started gauge with the version and trust domain", async () => {
    const text = await newMetrics().registry.metrics();

    expect(sampleValue(text, 'spire_agent_started{version="1.2.3",trust_domain_id="spiffe://example.org"}')).toBe(1);
    expect(sampleValue(text, "spire_agent_uptime_in_ms")).toBeGreaterThan(0);
  });
});

describe("label cardinality", () => {
  it("has no label that takes a value per workload", async () => {
    const metrics = newMetrics();
    for (let pid = 1000; pid < 1010; pid++) {
      metrics.workloadApiCalls.callStarted("/SpiffeWorkloadAPI/FetchX509SVID", pid);
      metrics.workloadApiCalls.callFinished({ path: "/SpiffeWorkloadAPI/FetchX509SVID", code: Status.OK, elapsedMs: 1, callerPid: pid });
    }
    const metricObjects = await metrics.registry.getMetricsAsJSON();

    const labelNames = new Set(metricObjects.flatMap((metric) => metric.values.flatMap((value) => Object.keys(value.labels))));
    for (const forbidden of ["spiffe_id", "entry_id", "pid", "selector", "subject"]) {
      expect(labelNames.has(forbidden), `label ${forbidden}`).toBe(false);
    }
    const series = (await metrics.registry.metrics()).split("\n").filter((line) => line.startsWith("spire_agent_rpc_workload_api_fetch_x509svid{"));
    expect(series).toHaveLength(1);
  });
});
