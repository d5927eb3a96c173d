import type { PermissionDeniedReason } from "../client/permission-denied.js";
import { isAgentRejected } from "../client/permission-denied.js";
import { ServerRpcError } from "../client/rpc-failure.js";

/**
 * Raised when the server refuses the agent itself (banned, evicted, expired, or told to
 * attest again): no retry with the current SVID can succeed, so the agent stops.
 */
export class AgentRejectedError extends Error {
  override readonly name = "AgentRejectedError";

  constructor(
    readonly reason: PermissionDeniedReason,
    options?: ErrorOptions,
  ) {
    super(`the server rejected the agent (${reason}); the agent must attest again with new credentials`, options);
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
