import { status as Status } from "@grpc/grpc-js";

import type { Logger } from "../../common/log.js";
import type { debugv1, DebugHandlers } from "../../proto/index.js";
import { serviceError } from "../../workload-api/grpc-status.js";
import { describeAgentSvidChain } from "./agent-svid-chain.js";

/** How long GetInfo returns the same response, as spire-agent does (5 s). */
export const GET_INFO_CACHE_MS = 5_000;

const INT32_MAX = 2 ** 31 - 1;

/** The agent state that Debug/GetInfo reports, backed by the manager and the caches. */
export interface DebugInfoSource {
  /** Current agent SVID chain, DER, leaf first. */
  agentSvidChain(): readonly Buffer[];
  /** X.509 roots of the agent's own trust domain, DER. */
  bundle(): readonly Buffer[];
  /** Seconds since the agent started. */
  uptimeSeconds(): number;
  /** Time of the last successful sync with the server, or undefined before the first one. */
  lastSyncSuccess(): Date | undefined;
  /** X.509-SVIDs in the workload cache. */
  cachedX509SvidCount(): number;
  /** JWT-SVIDs in the JWT-SVID cache. */
  cachedJwtSvidCount(): number;
  /** X.509-SVIDs kept for SVIDStore plugins. Without it GetInfo reports 0, because tessera-agent has no SVIDStore yet. */
  cachedSvidStoreX509SvidCount?(): number;
}

/** Settings for {@link createDebugHandlers}. */
export interface DebugServiceOptions {
  source: DebugInfoSource;
  logger: Logger;
  /** Clock in milliseconds, for the response cache and the chain's validity check. */
  now?: () => number;
}

/**
 * Creates the `spire.agent.debug.v1.Debug` handlers. GetInfo verifies the agent SVID
 * against the trust bundle and reports the chain with the cache counts.
 *
 * A response is reused for {@link GET_INFO_CACHE_MS}, so polling clients cost little and
 * counts can lag by that much. A chain that does not verify fails the call with Internal
 * and is logged. `last_sync_success` is 0 before the first sync.
 */
export function createDebugHandlers(options: DebugServiceOptions): DebugHandlers {
  const { source, logger } = options;
  const now = options.now ?? Date.now;
  let cached: { response: debugv1.GetInfoResponse; atMs: number } | undefined;

  return {
    GetInfo(_call, callback) {
      const nowMs = now();
      if (cached !== undefined && nowMs - cached.atMs < GET_INFO_CACHE_MS) {
        callback(null, cached.response);
        return;
      }

      try {
        cached = { response: buildGetInfoResponse(source, new Date(nowMs), logger), atMs: nowMs };
        callback(null, cached.response);
      } catch (error) {
        callback(serviceError(Status.INTERNAL, (error as Error).message));
      }
    },
  };
}

function buildGetInfoResponse(source: DebugInfoSource, now: Date, logger: Logger): debugv1.GetInfoResponse {
  let chain;
  try {
    chain = describeAgentSvidChain(source.agentSvidChain(), source.bundle(), now);
  } catch (error) {
    logger.error({ error: (error as Error).message }, "Failed to verify the agent SVID for Debug/GetInfo");
    throw new Error(`failed to verify agent SVID: ${(error as Error).message}`, { cause: error });
  }

  const x509SvidCount = checkedInt32(source.cachedX509SvidCount(), "cached X.509-SVID count");
  const lastSync = source.lastSyncSuccess();

  return {
    svid_chain: chain.map((certificate) => ({
      id: certificate.spiffeId === undefined ? null : { trust_domain: certificate.spiffeId.trustDomain, path: certificate.spiffeId.path },
      expires_at: certificate.expiresAtSeconds,
      subject: certificate.subject,
    })),
    uptime: checkedInt32(Math.floor(source.uptimeSeconds()), "uptime"),
    svids_count: x509SvidCount,
    last_sync_success: lastSync === undefined ? 0 : Math.floor(lastSync.getTime() / 1000),
    cached_x509_svids_count: x509SvidCount,
    cached_jwt_svids_count: checkedInt32(source.cachedJwtSvidCount(), "cached JWT-SVID count"),
    cached_svidstore_x509_svids_count: checkedInt32(source.cachedSvidStoreX509SvidCount?.() ?? 0, "cached SVIDStore X.509-SVID count"),
  };
}

/** Returns `value` when it fits the response's int32 field, because protobufjs would silently wrap it. */
function checkedInt32(value: number, what: string): number {
  if (!Number.isInteger(value) || value < 0 || value > INT32_MAX) {
    throw new Error(`the ${what} ${value} does not fit the response's int32 field`);
  }
  return value;
}
