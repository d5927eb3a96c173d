import { status } from "@grpc/grpc-js";

import { createBackoff, sleep } from "../../common/backoff.js";
import type { Logger } from "../../common/log.js";
import { formatDuration } from "../../config/flags.js";
import { errorLogFields, ServerRpcError } from "../client/rpc-failure.js";
import { writeAgentState } from "../storage/agent-state.js";
import type { AgentSvidState } from "./agent-svid.js";
import { attestNode } from "./node-attestor.js";
import type { AttestNodeOptions } from "./node-attestor.js";
import { loadStoredAgentSvid } from "./stored-agent-svid.js";

/** How long the agent keeps retrying attestation before it gives up, as SPIRE's agent does. */
export const ATTESTATION_RETRY_LIMIT_MS = 60_000;

/**
 * Delays between attestation attempts: 5 s, growing by 1.5 with 10 % jitter up to 24
 * times the first delay. SPIRE's agent uses the same numbers (bootstrapBackoffInterval
 * in pkg/agent/agent.go and pkg/common/backoff), so the agent makes about five attempts in that minute.
 */
const ATTESTATION_BACKOFF = { initialMs: 5000, maxMs: 24 * 5000, multiplier: 1.5, jitter: 0.1 };

/** Calls that no retry can fix: the server refused the agent or the request. */
const FINAL_CODES = new Set([status.PERMISSION_DENIED, status.INVALID_ARGUMENT, status.UNAUTHENTICATED, status.UNIMPLEMENTED]);

/** Settings for {@link obtainAgentSvid}: those of one attestation, plus where the SVID is stored. */
export interface ObtainAgentSvidOptions extends AttestNodeOptions {
  dataDir: string;
  /** How long attestation is retried; default {@link ATTESTATION_RETRY_LIMIT_MS}. */
  retryLimitMs?: number;
}

/**
 * Returns the agent's identity: the SVID stored in data_dir when it is still valid and the
 * KeyManager holds its key, otherwise a new one from node attestation, which is then stored.
 * A stored SVID that cannot be used is logged with the reason, which also starts the final
 * attestation error.
 *
 * Attestation is retried with backoff (5 s, ×1.5, for at most one minute) while the server
 * is unreachable, fails, or presents a certificate the agent rejects; after that the last
 * error is thrown. PermissionDenied, InvalidArgument and errors outside the call (a missing
 * join token) end it at once, because retrying cannot help.
 */
export async function obtainAgentSvid(options: ObtainAgentSvidOptions): Promise<AgentSvidState> {
  const logger = options.logger;
  const stored = await loadStoredAgentSvid(options.dataDir, options.endpoint.trustDomain, options.keyManager);
  if (stored.kind === "usable") {
    const reused = stored.svid;
    logger.info({ spiffe_id: reused.spiffeId, expires_at: new Date(reused.notAfterMs).toISOString() }, "Reusing the agent SVID stored in data_dir");
    return reused;
  }

  if (stored.kind === "unusable") {
    logger.warn({ path: stored.path, problem: stored.problem }, "The stored agent SVID cannot be used; starting node attestation");
  } else {
    logger.info({ data_dir: options.dataDir }, "SVID is not found. Starting node attestation");
  }
  const backoff = createBackoff(ATTESTATION_BACKOFF);
  const deadline = Date.now() + (options.retryLimitMs ?? ATTESTATION_RETRY_LIMIT_MS);

  for (;;) {
    try {
      const state = await attestNode(options);
      logger.info({ spiffe_id: state.spiffeId, reattestable: state.reattestable }, "Node attestation was successful");
      writeAgentState(options.dataDir, { svidChain: state.svidChain, bundle: state.bundle, reattestable: state.reattestable });
      return state;
    } catch (error) {
      const retryable = error instanceof ServerRpcError && !FINAL_CODES.has(error.code);
      const delayMs = backoff.next();
      if (!retryable || Date.now() + delayMs > deadline || options.signal?.aborted === true) {
        throw stored.kind === "unusable" ? afterUnusableSvid(error, stored) : error;
      }

      logger.warn({ ...errorLogFields(error), retry_interval: formatDuration(delayMs) }, "Node attestation failed; retrying");
      await sleep(delayMs, options.signal);
    }
  }
}

/**
 * Prefixes the attestation error with why the stored SVID was not used, because an operator
 * who restarted an attested agent does not expect it to attest (and to need a join token).
 * A ServerRpcError stays one, with the same code and reason.
 */
function afterUnusableSvid(error: unknown, stored: { path: string; problem: string }): Error {
  const message = `the agent SVID stored in ${stored.path} cannot be used because ${stored.problem}. Node attestation ran instead and failed: ${(error as Error).message}`;
  if (error instanceof ServerRpcError) {
    return new ServerRpcError(message, error.code, error.statusMessage, error.reason, { cause: error });
  }
  return new Error(message, { cause: error });
}
