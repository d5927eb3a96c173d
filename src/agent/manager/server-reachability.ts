import type { Logger } from "../../common/log.js";
import type { NamedHealthCheck } from "../../workload-api/health-service.js";
import { FAILED_SYNCS_METADATA_KEY, UNREACHABLE_SINCE_METADATA_KEY } from "../../workload-api/health-service.js";

/** Whether the agent can sync with its server, as of the last sync attempt. */
export interface ServerReachabilityState {
  /** False from the first failed sync until the next successful one. */
  reachable: boolean;
  /** Time of the last successful sync in milliseconds since the epoch; undefined before the first. */
  lastSuccessfulSyncMs?: number;
  /** Time the last sync attempt ended, successful or not, in milliseconds since the epoch; undefined before the first. */
  lastAttemptMs?: number;
  /** Failed syncs since the last successful one. */
  consecutiveFailures: number;
  /** Time of the first failed sync of the current run of failures; undefined while reachable. */
  unreachableSinceMs?: number;
  /** Message of the last failure; undefined while reachable. */
  lastError?: string;
}

/**
 * Read side of the server reachability, for health checks and (later) metrics. The state
 * is a plain object replaced on every change, so a caller may keep it.
 */
export interface ServerReachability {
  state(): ServerReachabilityState;
  /** Registers `listener` for every change of reachable/unreachable; returns a function that removes it. */
  onChange(listener: (state: ServerReachabilityState) => void): () => void;
}

/** Outage log line once the agent serves workloads from its cache. */
export const SERVING_CACHED_SVIDS_MESSAGE = "Server unreachable; serving cached SVIDs until they expire";

/** Write side, used by the manager after every sync attempt. */
export interface ServerReachabilityRecorder extends ServerReachability {
  recordSuccess(nowMs?: number): void;
  recordFailure(error: unknown, nowMs?: number): void;
  /**
   * Sets the warning logged when the server becomes unreachable, so it matches what the
   * agent does meanwhile (during the first sync it may serve nothing yet); undefined
   * restores {@link SERVING_CACHED_SVIDS_MESSAGE}.
   */
  setOutageMessage(message: string | undefined): void;
}

/**
 * Creates the tracker, reachable with no sync yet. Logs a warning when the server becomes
 * unreachable and an info line with the outage length when it is back, so a long outage
 * gives two lines and not one per retry.
 */
export function createServerReachability(logger: Logger): ServerReachabilityRecorder {
  let current: ServerReachabilityState = { reachable: true, consecutiveFailures: 0 };
  let outageMessage = SERVING_CACHED_SVIDS_MESSAGE;
  const listeners = new Set<(state: ServerReachabilityState) => void>();

  function notify(): void {
    for (const listener of [...listeners]) {
      listener(current);
    }
  }

  return {
    state: () => current,

    onChange(listener) {
      listeners.add(listener);
      return () => {
        listeners.delete(listener);
      };
    },

    recordSuccess(nowMs = Date.now()) {
      const wasUnreachable = !current.reachable;
      if (wasUnreachable) {
        logger.info(
          { unreachable_since: new Date(current.unreachableSinceMs ?? nowMs).toISOString(), failed_syncs: current.consecutiveFailures },
          "Server reachable again; synced",
        );
      }

      current = { reachable: true, lastSuccessfulSyncMs: nowMs, lastAttemptMs: nowMs, consecutiveFailures: 0 };
      if (wasUnreachable) {
        notify();
      }
    },

    setOutageMessage(message) {
      outageMessage = message ?? SERVING_CACHED_SVIDS_MESSAGE;
    },

    recordFailure(error, nowMs = Date.now()) {
      const message = error instanceof Error ? error.message : String(error);
      const becameUnreachable = current.reachable;
      current = {
        reachable: false,
        lastSuccessfulSyncMs: current.lastSuccessfulSyncMs,
        lastAttemptMs: nowMs,
        consecutiveFailures: current.consecutiveFailures + 1,
        unreachableSinceMs: current.unreachableSinceMs ?? nowMs,
        lastError: message,
      };

      if (becameUnreachable) {
        logger.warn(
          {
            error: message,
            last_successful_sync: current.lastSuccessfulSyncMs === undefined ? undefined : new Date(current.lastSuccessfulSyncMs).toISOString(),
          },
          outageMessage,
        );
        notify();
      }
    },
  };
}

/**
 * Builds the health check for SERVER_HEALTH_SERVICE: SERVING while the server is
 * reachable; NOT_SERVING with the outage start and the failed sync count otherwise.
 */
export function serverReachabilityHealthCheck(reachability: ServerReachability): NamedHealthCheck {
  return () => {
    const state = reachability.state();
    if (state.reachable) {
      return { serving: true };
    }
    return {
      serving: false,
      details: {
        [UNREACHABLE_SINCE_METADATA_KEY]: new Date(state.unreachableSinceMs ?? Date.now()).toISOString(),
        [FAILED_SYNCS_METADATA_KEY]: String(state.consecutiveFailures),
      },
    };
  };
}
