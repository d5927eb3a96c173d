import type { PermissionDeniedReason } from "../client/permission-denied.js";
import { isAgentRejected } from "../client/permission-denied.js";
import { ServerRpcError } from "../client/rpc-failure.js";

/** Options of {@link AgentRejectedError}. */
export interface AgentRejectedErrorOptions extends ErrorOptions {
  /** The message; a generic one naming the reason when unset. */
  message?: string;
  /** The error of the failed attempt to attest again in place, when the agent tried. */
  reattestationFailure?: Error;
}

/**
 * Raised when the server refuses the agent itself (banned, evicted, expired, or told to
 * attest again) and the agent cannot recover in place: no retry with the current SVID can
 * succeed, so the agent stops.
 */
export class AgentRejectedError extends Error {
  override readonly name = "AgentRejectedError";
  readonly reattestationFailure: Error | undefined;

  constructor(
    readonly reason: PermissionDeniedReason,
    options: AgentRejectedErrorOptions = {},
  ) {
    super(options.message ?? `the server rejected the agent (${reason}); the agent must attest again`, options);
    this.reattestationFailure = options.reattestationFailure;
  }
}

/** Returns an {@link AgentRejectedError} when `error` is such a refusal, otherwise undefined. */
export function asAgentRejection(error: unknown): AgentRejectedError | undefined {
  if (error instanceof AgentRejectedError) {
    return error;
  }
  if (error instanceof ServerRpcError && error.reason !== undefined && isAgentRejected(error.reason)) {
    return new AgentRejectedError(error.reason, { cause: error });
  }
  return undefined;
}

/**
 * Tells whether the agent may recover from `reason` by attesting again (SPIRE's "should
 * reattest" set): every rejection but a ban.
 */
export function allowsReattestation(reason: PermissionDeniedReason): boolean {
  return reason !== "AGENT_BANNED";
}

/** The agent a rejection concerns, for {@link explainRejection}. */
export interface RejectedAgent {
  spiffeId: string;
  /** NodeAttestor plugin name, e.g. `join_token`. */
  nodeAttestor: string;
}

/**
 * Returns the log message and the exit message for a rejection the agent cannot recover
 * from: what happened and what the operator must do before starting the agent again.
 */
export function explainRejection(rejection: AgentRejectedError, agent: RejectedAgent): { logMessage: string; exitMessage: string } {
  const id = agent.spiffeId;
  if (rejection.reason === "AGENT_BANNED") {
    const restart =
      agent.nodeAttestor === "join_token"
        ? "then start the agent again with a new join token (create one with `tessera-server token generate -spiffeID <node ID>`)"
        : `then start the agent again to attest with ${agent.nodeAttestor}`;
    return {
      logMessage: "Agent is banned: removing SVID and shutting down",
      exitMessage: `the server banned the agent ${id}: to let this node attest again, evict it on the server (tessera-server agent evict -spiffeID ${id}), ${restart}`,
    };
  }

  const rejected = `the server rejected the agent ${id} (${rejection.reason})`;
  if (rejection.reattestationFailure !== undefined) {
    return {
      logMessage: "Agent failed to attest again: removing SVID and shutting down",
      exitMessage: `${rejected} and attesting again with ${agent.nodeAttestor} failed: ${rejection.reattestationFailure.message}; fix that, then start the agent again`,
    };
  }
  if (agent.nodeAttestor === "join_token") {
    return {
      logMessage: "Agent must attest again with a new join token: removing SVID and shutting down",
      exitMessage:
        `${rejected}: a join token works only once, so start the agent with a new join token ` +
        "(create one with `tessera-server token generate -spiffeID <node ID>`)",
    };
  }
  return {
    logMessage: "Agent must attest again: removing SVID and shutting down",
    exitMessage: `${rejected}: start the agent again to attest with ${agent.nodeAttestor}`,
  };
}
