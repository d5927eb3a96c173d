import { status } from "@grpc/grpc-js";

import { createBackoff, sleep } from "../../common/backoff.js";
import type { Logger } from "../../common/log.js";
import { formatDuration } from "../../config/flags.js";
import { errorLogFields, ServerRpcError } from "../client/rpc-failure.js";
import { readAgentState, writeAgentState } from "../storage/agent-state.js";
import type { AgentSvidState } from "./agent-svid.js";
import { checkAgentSvid } from "./agent-svid.js";
import { attestNode } from "./node-attestor.js";
import type { AttestNodeOptions } from "./node-attestor.js";

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
 *
 * Attestation is retried with backoff (5 s, ×1.5, for at most one minute) while the server
 * is unreachable, fails, or presents a certificate the agent rejects; after that the last
 * error is thrown. PermissionDenied, InvalidArgument and errors outside the call (a missing
 * join token) end it at once, because retrying cannot help.
 */
export async function obtainAgentSvid(options: ObtainAgentSvidOptions): Promise<AgentSvidState> {
  const logger = options.logger;
  const reused = await reuseStoredSvid(options);
  if (reused !== undefined) {
    logger.info({ spiffe_id: reused.spiffeId, expires_at: new Date(reused.notAfterMs).toISOString() }, "Reusing the agent SVID stored in data_dir");
    return reused;
  }

  logger.info({ data_dir: options.dataDir }, "SVID is not found. Starting node attestation");
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
        throw error;
      }

      logger.warn({ ...errorLogFields(error), retry_interval: formatDuration(delayMs) }, "Node attestation failed; retrying");
      await sleep(delayMs, options.signal);
    }
  }
}

async function reuseStoredSvid(options: ObtainAgentSvidOptions): Promise<AgentSvidState | undefined> {
  const stored = readAgentState(options.dataDir);
  if (stored === undefined || stored.svidChain.length === 0 || stored.bundle.length === 0) {
    return undefined;
  }

  // One second of slack, as SPIRE allows, so an SVID that expires while the agent starts is not used.
  const now = new Date(Date.now() + 1000);
  for (const key of await options.keyManager.getKeys()) {
    try {
      return checkAgentSvid(options.endpoint.trustDomain, stored.svidChain, key, stored.bundle, stored.reattestable, now);
    } catch (error) {
      options.logger.debug({ key_id: key.id, error: (error as Error).message }, "Stored agent SVID does not match this key or is not valid");
    }
  }
  return undefined;
}
