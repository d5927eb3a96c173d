import { hostname } from "node:os";

import { collectDefaultMetrics, Registry } from "prom-client";

import type { CallOutcome, WorkloadApiCallObserver } from "../../workload-api/call-observer.js";
import type { AttestationResult, WorkloadAttestationObserver } from "../../workload-api/workload-attestation.js";
import type { TelemetryConfig } from "../config/telemetry-block.js";
import type { ManagerTelemetry } from "./manager-telemetry.js";
import { errorStatusName, grpcStatusName, rpcMetricKey } from "./metric-names.js";
import { createSpireMetricFactory } from "./spire-metric-factory.js";
import type { SpireCallCounter, SpireMetricFactory } from "./spire-metric-factory.js";
import { registerTesseraGauges } from "./tessera-gauges.js";
import type { AgentStateSources } from "./tessera-gauges.js";

/** Settings for {@link createAgentMetrics}. */
export interface AgentMetricsOptions {
  telemetry: TelemetryConfig;
  /** Bare trust domain name, e.g. `example.org`. */
  trustDomain: string;
  /** Tessera version for the `started` gauge's `version` label. */
  version: string;
  /** Value of the `host` label; the machine's host name when unset. */
  hostName?: string;
}

/**
 * The agent's metrics: a prom-client registry and the observers that feed it. Metrics
 * SPIRE's agent also has keep SPIRE's names under `MetricPrefix`; metrics only Tessera has
 * start with `tessera_agent_` (see docs/metrics.md). No label takes a value per workload
 * (no SPIFFE ID, entry ID or pid), so the number of series does not grow with workloads.
 */
export interface AgentMetrics {
  readonly registry: Registry;
  /** For the Workload API endpoint: counts calls per method and status; the agent's own calls are not counted. */
  readonly workloadApiCalls: WorkloadApiCallObserver;
  /** For the Workload API endpoint: counts attestations and attestor runs per attestor and status. */
  readonly workloadAttestation: WorkloadAttestationObserver;
  /** For the manager: counts syncs and agent SVID rotations. */
  readonly manager: ManagerTelemetry;
  /**
   * Sets where the gauges read the cache sizes, reachability and expiry times from at
   * each scrape. Until this is called those gauges report 0.
   */
  observe(sources: AgentStateSources): void;
}

/** Maps an attestation result to the `status` label value SPIRE's call counters use. */
const ATTESTATION_STATUS: Record<AttestationResult, string> = {
  ok: "OK",
  failed: "Unknown",
  timed_out: "DeadlineExceeded",
  cancelled: "Canceled",
};

/** Creates the registry with every metric registered. Nothing is served until the Prometheus endpoint starts. */
export function createAgentMetrics(options: AgentMetricsOptions): AgentMetrics {
  const { telemetry } = options;
  const registry = new Registry();
  const factory = createSpireMetricFactory({
    registry,
    prefix: telemetry.metricPrefix,
    commonLabels: telemetry.enableTrustDomainLabel ? { trust_domain: options.trustDomain } : {},
    gaugeLabels: telemetry.enableHostnameLabel ? { host: options.hostName ?? hostname() } : {},
  });

  let sources: AgentStateSources | undefined;
  registerStartGauges(factory, options);
  registerCacheGauges(factory, () => sources);
  const tessera = registerTesseraGauges(registry, () => sources);
  if (telemetry.prometheus !== undefined) {
    // Only when served: the event loop delay monitor costs a little even when nobody scrapes.
    collectDefaultMetrics({ register: registry });
  }

  return {
    registry,
    workloadApiCalls: createCallCounters(factory),
    workloadAttestation: createAttestationCounters(factory),
    manager: createManagerCounters(factory, tessera.agentSvidRotated),
    observe(next) {
      sources = next;
    },
  };
}

/** `started{version,trust_domain_id}` = 1 and `uptime_in_ms`, as SPIRE's agent reports them. */
function registerStartGauges(factory: SpireMetricFactory, options: AgentMetricsOptions): void {
  const started = factory.gauge(["started"], "Set to 1 once the agent has started; labels give its version and trust domain.", [
    "version",
    "trust_domain_id",
  ]);
  started.set({ version: options.version, trust_domain_id: `spiffe://${options.trustDomain}` }, 1);

  factory.gauge(["uptime_in_ms"], "Time since the agent process started, in milliseconds.", [], (gauge) => {
    gauge.set({}, Math.round(process.uptime() * 1000));
  });
}

/** SPIRE's cache size gauges, read from the caches at each scrape. */
function registerCacheGauges(factory: SpireMetricFactory, sources: () => AgentStateSources | undefined): void {
  factory.gauge(["lru_cache_record_map_size"], "Registration entries in the agent's X.509-SVID cache.", [], (gauge) => {
    gauge.set({}, sources()?.x509Cache.entries().size ?? 0);
  });
  factory.gauge(["lru_cache_svid_map_size"], "Workload X.509-SVIDs in the agent's cache.", ["svid_type"], (gauge) => {
    gauge.set({ svid_type: "X509" }, sources()?.x509Cache.svidCount() ?? 0);
  });
  factory.gauge(["jwt_svid_cache_size"], "JWT-SVIDs in the agent's JWT-SVID cache.", [], (gauge) => {
    gauge.set({}, sources()?.jwtSvidCache.size() ?? 0);
  });
}

/**
 * Call counters `rpc_<service>_<method>` per gRPC method, created on the first call of
 * each method (grpc-js only runs interceptors for methods the server serves, so their
 * number is bounded), and SPIRE's connection counter and in-flight gauge.
 */
function createCallCounters(factory: SpireMetricFactory): WorkloadApiCallObserver {
  const counters = new Map<string, SpireCallCounter>();
  const connection = factory.counter(["workload_api", "connection"], "Calls started on the Workload API socket.");
  let inFlight = 0;
  factory.gauge(["workload_api", "connections"], "Calls open on the Workload API socket, streams included.", [], (gauge) => {
    gauge.set({}, inFlight);
  });

  // SPIRE leaves the agent's own calls (its health probe) out of the RPC metrics.
  const isOwnCall = (callerPid: number | undefined): boolean => callerPid === process.pid;

  return {
    callStarted(_path, callerPid) {
      if (isOwnCall(callerPid)) {
        return;
      }
      connection.inc();
      inFlight++;
    },
    callFinished(outcome: CallOutcome) {
      if (isOwnCall(outcome.callerPid)) {
        return;
      }
      inFlight--;

      let counter = counters.get(outcome.path);
      if (counter === undefined) {
        counter = factory.callCounter(rpcMetricKey(outcome.path), `Calls of ${outcome.path} on the Workload API socket, by gRPC status.`);
        counters.set(outcome.path, counter);
      }
      counter.record({}, grpcStatusName(outcome.code), outcome.elapsedMs);
    },
  };
}

/** SPIRE's `workload_api_workload_attestation`, `workload_api_workload_attestor{attestor}` and `workload_api_discovered_selectors`. */
function createAttestationCounters(factory: SpireMetricFactory): WorkloadAttestationObserver {
  const attestation = factory.callCounter(["workload_api", "workload_attestation"], "Workload attestations of Workload API callers, by status.");
  const attestor = factory.callCounter(
    ["workload_api", "workload_attestor"],
    "Runs of each workload attestor, by attestor and status; a status other than OK is a failed run.",
    ["attestor"],
  );
  const selectors = factory.sample(["workload_api", "discovered_selectors"], "Selectors found by each successful workload attestation.");

  return {
    attestorFinished(outcome) {
      attestor.record({ attestor: outcome.attestor }, ATTESTATION_STATUS[outcome.result], outcome.elapsedMs);
    },
    attestationFinished(outcome) {
      attestation.record({}, ATTESTATION_STATUS[outcome.result], outcome.elapsedMs);
      if (outcome.result === "ok") {
        selectors.observe({}, outcome.selectorCount);
      }
    },
  };
}

/** SPIRE's sync and rotation call counters, the `sync_*` gauges and the `lru_cache_entry_*` counters. */
function createManagerCounters(factory: SpireMetricFactory, onAgentSvidRotated: (atMs: number) => void): ManagerTelemetry {
  const sync = factory.callCounter(["manager", "sync", "fetch_entries_updates"], "Fetches of entries and bundles from the server, by status.");
  const rotation = factory.callCounter(["agent_svid", "rotate"], "Scheduled rotations of the agent SVID, by status.");
  const entryGauges = {
    total: factory.gauge(["sync_entries_total"], "Entries the agent is authorized for, as of the last successful sync."),
    missing: factory.gauge(["sync_entries_missing"], "Entries new to the agent in the last successful sync."),
    stale: factory.gauge(["sync_entries_stale"], "Entries whose revision changed in the last successful sync."),
    dropped: factory.gauge(["sync_entries_dropped"], "Entries removed in the last successful sync."),
  };
  const bundles = factory.gauge(["sync_bundles_total"], "Trust bundles (own and federated) with X.509 roots, as of the last successful sync.");
  const added = factory.counter(["lru_cache_entry_add"], "Entries added to the agent's cache by syncs.");
  const updated = factory.counter(["lru_cache_entry_update"], "Entries changed in the agent's cache by syncs.");
  const removed = factory.counter(["lru_cache_entry_remove"], "Entries removed from the agent's cache by syncs.");

  return {
    entriesSynced(result) {
      sync.record({}, errorStatusName(result.error), result.elapsedMs);
      if (result.value === undefined) {
        return;
      }

      const { entries, cache } = result.value;
      entryGauges.total.set({}, entries.total);
      entryGauges.missing.set({}, entries.missing);
      entryGauges.stale.set({}, entries.stale);
      entryGauges.dropped.set({}, entries.dropped);
      bundles.set({}, result.value.bundles);
      added.inc({}, cache.added);
      updated.inc({}, cache.changed);
      removed.inc({}, cache.removed);
    },
    agentSvidRotated(result) {
      rotation.record({}, errorStatusName(result.error), result.elapsedMs);
      if (result.error === undefined) {
        onAgentSvidRotated(Date.now());
      }
    },
  };
}
