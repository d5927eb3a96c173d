import { maxSyncBackoffMs } from "../manager/manager.js";
import type { AgentStateSources } from "../telemetry/tessera-gauges.js";
import type { WorkloadApiProbeResult } from "./workload-api-probe.js";

/**
 * Extra time allowed for one sync attempt (entries, bundles and the minting pass that
 * follows) on top of the longest wait between attempts, before the sync loop counts as
 * stuck. NOTE: an estimate. Each server call has a 30 s deadline, and a minting pass for
 * thousands of entries makes several calls, so the allowance is generous: a false "not
 * live" makes an orchestrator restart a working agent.
 */
export const SYNC_ATTEMPT_ALLOWANCE_MS = 5 * 60_000;

/** Health of one part of the agent, with details that describe what is wrong. */
export interface SubsystemHealth {
  live: boolean;
  ready: boolean;
  /** Sent as the part's value in the JSON body; plain JSON values only. */
  details: Record<string, unknown>;
}

/** Health of the whole agent: live and ready only when every part is. */
export interface AgentHealthReport {
  live: boolean;
  ready: boolean;
  /** By part name: `agent` (the Workload API) and `manager` (syncing with the server). */
  subsystems: Record<string, SubsystemHealth>;
}

/** Settings for {@link createAgentHealth}. */
export interface AgentHealthOptions {
  sources: AgentStateSources;
  /** Tells whether the Workload API endpoint has been started; before that the agent is starting. */
  workloadApiStarted: () => boolean;
  probeWorkloadApi: () => Promise<WorkloadApiProbeResult>;
  syncIntervalMs: number;
  /** Clock in milliseconds since the epoch. */
  now?: () => number;
}

/** Computes the agent's health on demand; see {@link createAgentHealth}. */
export interface AgentHealth {
  check(): Promise<AgentHealthReport>;
}

/**
 * Creates the health checks behind `/live` and `/ready`.
 *
 * `agent`: ready once the Workload API endpoint has started, returns SERVING to a health
 * probe on its socket and the own trust bundle is present. Live while starting, and
 * afterwards while the socket responds (only a socket that does not respond fails, as in
 * SPIRE's agent).
 *
 * `manager`: live while the sync loop keeps running, which means a sync attempt, successful
 * or not, ended within the longest backoff (jittered by 10 %) plus
 * {@link SYNC_ATTEMPT_ALLOWANCE_MS} of the previous one or of start-up. A server that
 * cannot be reached makes the agent degraded but keeps it ready, because workloads still
 * get their cached SVIDs. It is not ready only when the server is unreachable and the
 * agent has entries but no unexpired SVID left to serve for them.
 */
export function createAgentHealth(options: AgentHealthOptions): AgentHealth {
  const now = options.now ?? Date.now;
  const startedMs = now();
  const stallLimitMs = Math.round(maxSyncBackoffMs(options.syncIntervalMs) * 1.1) + SYNC_ATTEMPT_ALLOWANCE_MS;

  return {
    async check() {
      const agent = await checkWorkloadApi(options);
      const manager = checkManager(options.sources, now(), startedMs, stallLimitMs);
      const subsystems = { agent, manager };
      return {
        live: agent.live && manager.live,
        ready: agent.ready && manager.ready,
        subsystems,
      };
    },
  };
}

async function checkWorkloadApi(options: AgentHealthOptions): Promise<SubsystemHealth> {
  const { sources } = options;
  const agentSvid = sources.agentSvid();
  const trustBundle = sources.x509Cache.bundle().length > 0;
  const base = { spiffe_id: agentSvid.spiffeId, agent_svid_expires_at: new Date(agentSvid.notAfterMs).toISOString(), trust_bundle: trustBundle };

  if (!options.workloadApiStarted()) {
    return { live: true, ready: false, details: { ...base, started: false, workload_api: "not_started" } };
  }

  const probe = await options.probeWorkloadApi();
  const details: Record<string, unknown> = { ...base, started: true, workload_api: probe.state };
  if (probe.error !== undefined) {
    // SPIRE's agent reports a failed probe under this key.
    details.make_new_x509_err = probe.error;
  }

  const answered = probe.state !== "unavailable";
  return { live: answered, ready: answered && probe.state === "serving" && trustBundle, details };
}

function checkManager(sources: AgentStateSources, nowMs: number, startedMs: number, stallLimitMs: number): SubsystemHealth {
  const state = sources.reachability.state();
  const usableSvids = sources.x509Cache.usableSvidCount(nowMs);
  const entries = sources.x509Cache.entries().size;

  const progressMs = state.lastAttemptMs ?? startedMs;
  const stalled = nowMs - progressMs > stallLimitMs;
  const details: Record<string, unknown> = {
    server_reachable: state.reachable,
    degraded: !state.reachable,
    last_successful_sync: toIso(state.lastSuccessfulSyncMs),
    last_sync_attempt: toIso(state.lastAttemptMs),
    entries,
    usable_x509_svids: usableSvids,
  };

  if (!state.reachable) {
    details.unreachable_since = toIso(state.unreachableSinceMs);
    details.failed_syncs = state.consecutiveFailures;
    details.last_error = state.lastError;
  }
  if (stalled) {
    details.sync_loop_error = `no sync attempt ended in the last ${Math.round((nowMs - progressMs) / 1000)} s; the limit is ${Math.round(stallLimitMs / 1000)} s`;
  }

  const cannotServe = !state.reachable && entries > 0 && usableSvids === 0;
  if (cannotServe) {
    details.serve_error = "the server is unreachable and no cached X.509-SVID is still valid";
  }
  return { live: !stalled, ready: !cannotServe, details };
}

function toIso(ms: number | undefined): string | null {
  return ms === undefined ? null : new Date(ms).toISOString();
}
