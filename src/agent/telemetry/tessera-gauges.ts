import { Gauge } from "prom-client";
import type { Registry } from "prom-client";

import type { JwtSvidCache } from "../cache/jwt-svid-cache.js";
import type { X509Cache } from "../cache/x509-cache.js";
import type { ServerReachability } from "../manager/server-reachability.js";

/** Parts of the running agent that gauges and health checks read at each scrape or request. */
export interface AgentStateSources {
  x509Cache: Pick<X509Cache, "entries" | "svidCount" | "usableSvidCount" | "snapshot" | "bundle">;
  jwtSvidCache: Pick<JwtSvidCache, "size">;
  reachability: ServerReachability;
  /** The agent's current SVID; it changes on every rotation. */
  agentSvid: () => { spiffeId: string; notAfterMs: number };
}

/** Gauge updates that come from events instead of from {@link AgentStateSources}. */
export interface TesseraGaugeEvents {
  agentSvidRotated(atMs: number): void;
}

/** Prefix of the metrics only Tessera has; `MetricPrefix` does not change it. */
export const TESSERA_METRIC_PREFIX = "tessera_agent";

/**
 * Registers the gauges only Tessera has, under {@link TESSERA_METRIC_PREFIX}. They follow
 * Prometheus naming (unit suffix, Unix timestamps in seconds) and have no labels. A
 * timestamp of an event that has not happened yet is 0, so the series always exists.
 */
export function registerTesseraGauges(registry: Registry, sources: () => AgentStateSources | undefined): TesseraGaugeEvents {
  const gauge = (name: string, help: string, read: (current: AgentStateSources) => number): void => {
    new Gauge({
      name: `${TESSERA_METRIC_PREFIX}_${name}`,
      help,
      registers: [registry],
      collect() {
        const current = sources();
        this.set(current === undefined ? 0 : read(current));
      },
    });
  };

  gauge("server_reachable", "1 while the last sync with the server succeeded, 0 after a failed one.", (current) =>
    current.reachability.state().reachable ? 1 : 0,
  );
  gauge("sync_consecutive_failures", "Failed syncs with the server since the last successful one.", (current) =>
    current.reachability.state().consecutiveFailures,
  );
  gauge("last_successful_sync_timestamp_seconds", "Time of the last successful sync with the server; 0 before the first.", (current) =>
    toSeconds(current.reachability.state().lastSuccessfulSyncMs),
  );
  gauge("last_sync_attempt_timestamp_seconds", "Time the last sync attempt ended, successful or not; 0 before the first.", (current) =>
    toSeconds(current.reachability.state().lastAttemptMs),
  );
  gauge("agent_svid_expiry_timestamp_seconds", "Expiry (NotAfter) of the agent's own X.509-SVID.", (current) =>
    toSeconds(current.agentSvid().notAfterMs),
  );
  gauge("x509_svid_earliest_expiry_timestamp_seconds", "Earliest expiry (NotAfter) among cached workload X.509-SVIDs; 0 when none is cached.", (current) =>
    toSeconds(earliestExpiryMs(current.x509Cache)),
  );

  let lastRotationMs: number | undefined;
  new Gauge({
    name: `${TESSERA_METRIC_PREFIX}_agent_svid_last_rotation_timestamp_seconds`,
    help: "Time of the last successful scheduled rotation of the agent SVID since start; 0 before the first.",
    registers: [registry],
    collect() {
      this.set(toSeconds(lastRotationMs));
    },
  });

  return {
    agentSvidRotated(atMs) {
      lastRotationMs = atMs;
    },
  };
}

function toSeconds(ms: number | undefined): number {
  return ms === undefined ? 0 : ms / 1000;
}

function earliestExpiryMs(cache: AgentStateSources["x509Cache"]): number | undefined {
  let earliest: number | undefined;
  for (const svid of cache.snapshot().svids.values()) {
    if (earliest === undefined || svid.notAfterMs < earliest) {
      earliest = svid.notAfterMs;
    }
  }
  return earliest;
}
