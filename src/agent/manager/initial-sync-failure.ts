import { formatDuration } from "../../config/flags.js";
import { ServerRpcError } from "../client/rpc-failure.js";

/**
 * Why the first sync stopped being retried:
 * - `retry_limit`: the one-minute limit passed and no restored SVIDs kept workloads served;
 * - `restored_svids_expired`: the limit passed and the SVIDs restored from the runtime cache expired;
 * - `agent_svid_expired`: the next retry would come after the agent SVID expires, so no sync can succeed.
 */
export type InitialSyncStopReason = "retry_limit" | "restored_svids_expired" | "agent_svid_expired";

/** Inputs of {@link initialSyncFailure}, which names them in its message. */
export interface InitialSyncFailureContext {
  reason: InitialSyncStopReason;
  /** The retry limit of the first sync, in milliseconds. */
  retryLimitMs: number;
  /** How long the first sync was retried, in milliseconds. */
  elapsedMs: number;
  /** `host:port` of the server, named in the message when known. */
  serverAddress?: string;
  agentSpiffeId: string;
  agentSvidNotAfterMs: number;
  /** False for join_token agents, which need a new token to attest again. */
  reattestable: boolean;
}

/**
 * Returns the outage log line for the first sync. Before the first sync the agent may not
 * serve any workload yet, so the usual "serving cached SVIDs" line would be false.
 */
export function initialSyncOutageMessage(retryLimitMs: number, servingRestoredSvids: boolean): string {
  if (servingRestoredSvids) {
    return "Server unreachable; serving the SVIDs restored from the runtime cache while the first sync is retried, until they or the agent SVID expire";
  }
  return (
    `Server unreachable; the first sync is retried for up to ${formatDuration(retryLimitMs)} before the agent gives up. ` +
    "No Workload API socket is open until it succeeds; with runtime_dir on tmpfs, a restarted agent serves its cached SVIDs while the server is down"
  );
}

/**
 * Wraps the last error of the first sync in one that states why the agent gives up and
 * what to do. A ServerRpcError stays one (same code and reason), so the exit log keeps `status_code`.
 */
export function initialSyncFailure(lastError: unknown, context: InitialSyncFailureContext): Error {
  const last = lastError instanceof Error ? lastError.message : String(lastError);
  const server = context.serverAddress === undefined ? "the server" : `the server at ${context.serverAddress}`;
  const message =
    context.reason === "agent_svid_expired"
      ? agentSvidExpiredMessage(server, last, context)
      : `the first sync with ${server} failed for ${formatDuration(context.elapsedMs)} (${retryLimitText(context)}); last error: ${last}. ` +
        "Check that server_address and server_port name the server and that it runs. " +
        "With runtime_dir on tmpfs, a restarted agent serves its cached SVIDs while the server is down";

  if (lastError instanceof ServerRpcError) {
    return new ServerRpcError(message, lastError.code, lastError.statusMessage, lastError.reason, { cause: lastError });
  }
  return new Error(message, { cause: lastError });
}

function retryLimitText(context: InitialSyncFailureContext): string {
  const limit = formatDuration(context.retryLimitMs);
  if (context.reason === "restored_svids_expired") {
    return `the retry limit is ${limit}, extended only while SVIDs restored from the runtime cache were valid`;
  }
  return `the retry limit is ${limit}`;
}

function agentSvidExpiredMessage(server: string, last: string, context: InitialSyncFailureContext): string {
  const expiry = new Date(context.agentSvidNotAfterMs).toISOString();
  const next = context.reattestable
    ? "start the agent again once the server runs, and it attests again with its node attestor"
    : "start it with a new join token once the server runs (create one with `tessera-server token generate -spiffeID <node ID>`)";
  return (
    `the agent SVID ${context.agentSpiffeId} expires at ${expiry}, before the next retry of the first sync with ${server}, ` +
    `which stayed unreachable (last error: ${last}). The agent must attest again: ${next}`
  );
}
