import { status } from "@grpc/grpc-js";

import { selectorsSatisfy } from "../../spiffe/selector.js";
import type { JwtIdentity, JwtSource, WorkloadJwtSvid } from "../../workload-api/jwt-source.js";
import type { ServerJwtSvid } from "../client/server-client.js";
import { ServerRpcError } from "../client/rpc-failure.js";
import type { JwtBundleStore } from "./jwt-bundle-store.js";
import type { JwtSvidCache } from "./jwt-svid-cache.js";
import { compareEntryIds } from "./subscriptions.js";
import type { X509Cache } from "./x509-cache.js";
import { untilAborted } from "../../common/until-aborted.js";

/** Settings for {@link createAgentJwtSource}. */
export interface AgentJwtSourceOptions {
  /** Bare name of the agent's trust domain. */
  trustDomain: string;
  /** Source of the synced entries and of X.509 bundle notifications. */
  cache: X509Cache;
  jwtBundles: JwtBundleStore;
  jwtSvids: JwtSvidCache;
}

/**
 * Creates the agent's {@link JwtSource}: identities come straight from the synced entries
 * (no X.509-SVID needs to be cached), tokens from the JWT-SVID cache, and bundle
 * notifications fire on X.509 and JWT bundle changes alike, so a listener can hear about
 * one sync twice.
 */
export function createAgentJwtSource(options: AgentJwtSourceOptions): JwtSource {
  const { cache, jwtBundles, jwtSvids } = options;

  return {
    matchingIdentities(selectors) {
      const identities: JwtIdentity[] = [];
      for (const entry of [...cache.entries().values()].sort(compareEntryIds)) {
        if (!selectorsSatisfy(entry.selectors, selectors)) {
          continue;
        }
        identities.push({
          entryId: entry.id,
          spiffeId: entry.spiffeId,
          hint: entry.hint,
          createdAt: entry.createdAt,
          federatesWith: [...entry.federatesWith],
        });
      }
      return identities;
    },

    async fetchJwtSvid(identity, audience, signal) {
      let svid: ServerJwtSvid;
      try {
        // The server call may be shared with other workloads, so an abort only stops waiting for it.
        svid = await untilAborted(jwtSvids.fetch(identity.entryId, identity.spiffeId, audience), signal);
      } catch (error) {
        throw signal.aborted ? error : describeJwtSvidFailure(error);
      }
      const workloadSvid: WorkloadJwtSvid = { spiffeId: identity.spiffeId, token: svid.token, hint: identity.hint, expiresAt: svid.expiresAt };
      return workloadSvid;
    },

    jwtBundles() {
      return { trustDomain: options.trustDomain, bundles: new Map(jwtBundles.bundles()) };
    },

    onBundleUpdate(listener) {
      const removeX509 = cache.onBundleUpdate(listener);
      const removeJwt = jwtBundles.onUpdate(listener);
      return () => {
        removeX509();
        removeJwt();
      };
    },
  };
}

/**
 * Rewords a failed JWT-SVID fetch for the workload, whose status message puts "failed to
 * mint JWT-SVID: " before it. A failed server call becomes its status message without the
 * entry and SPIFFE ID prefixes, which the agent's log carries as fields. An Unavailable
 * status reads "the server is unreachable: <reason>". Other errors are returned unchanged.
 */
export function describeJwtSvidFailure(error: unknown): Error {
  const rpcError = findServerRpcError(error);
  if (rpcError === undefined) {
    return error instanceof Error ? error : new Error(String(error));
  }

  if (rpcError.code === status.UNAVAILABLE) {
    return new Error(`the server is unreachable: ${rpcError.statusMessage}`, { cause: error });
  }
  if (rpcError.code === status.DEADLINE_EXCEEDED) {
    return new Error(`the server did not respond in time: ${rpcError.statusMessage}`, { cause: error });
  }
  // UNKNOWN also covers failures that were not gRPC statuses, such as an invalid token.
  if (rpcError.code === status.UNKNOWN) {
    return new Error(rpcError.statusMessage, { cause: error });
  }
  const reason = rpcError.reason === undefined ? "" : ` (reason ${rpcError.reason})`;
  return new Error(`the server returned ${status[rpcError.code]}: ${rpcError.statusMessage}${reason}`, { cause: error });
}

function findServerRpcError(error: unknown): ServerRpcError | undefined {
  const seen = new Set<unknown>();
  let current = error;
  while (current instanceof Error && !seen.has(current)) {
    if (current instanceof ServerRpcError) {
      return current;
    }
    seen.add(current);
    current = current.cause;
  }
  return undefined;
}
