import { Metadata, status as Status } from "@grpc/grpc-js";
import type { HealthHandlers } from "../proto/index.js";
import { serviceError } from "./grpc-status.js";
import type { IdentitySource } from "./identity-source.js";

/**
 * Health service name that reports whether the agent can sync with its server. It is
 * NOT_SERVING while the server is unreachable, even though the agent keeps serving cached
 * SVIDs (the empty service name stays SERVING then).
 */
export const SERVER_HEALTH_SERVICE = "tessera.agent.server";

/**
 * Trailing metadata key on a NOT_SERVING response for {@link SERVER_HEALTH_SERVICE}: the
 * time (RFC 3339) of the first failed sync of the current outage.
 */
export const UNREACHABLE_SINCE_METADATA_KEY = "tessera-server-unreachable-since";

/** Trailing metadata key: failed syncs since the last successful one. */
export const FAILED_SYNCS_METADATA_KEY = "tessera-server-failed-syncs";

/** Result of one named health check. */
export interface NamedHealthStatus {
  serving: boolean;
  /** Sent as trailing metadata with the response; keys are lowercase ASCII. */
  details?: Record<string, string>;
}

/** A named health check, evaluated on every Check call for its service name. */
export type NamedHealthCheck = () => NamedHealthStatus;

/**
 * Tells whether the agent can serve workloads: it has a non-empty X.509 bundle for its
 * own trust domain, which it only has after node attestation and a first sync with the
 * server. Any error from the source counts as not ready.
 */
export function identitySourceIsReady(identitySource: IdentitySource): boolean {
  try {
    const { trustDomain, bundles } = identitySource.x509Bundles();
    return (bundles.get(trustDomain)?.length ?? 0) > 0;
  } catch {
    return false;
  }
}

/**
 * Creates the `grpc.health.v1.Health` handlers for the Workload API socket, used by
 * `tessera-agent healthcheck`. `Check` with the empty service name reports the whole
 * agent: SERVING when `isReady()` returns true, NOT_SERVING otherwise. A name in
 * `namedChecks` reports that check, with its details as trailing metadata. Any other name
 * fails with NotFound, as the gRPC health checking protocol requires. `Watch` is not
 * implemented.
 */
export function createHealthHandlers(isReady: () => boolean, namedChecks: ReadonlyMap<string, NamedHealthCheck> = new Map()): HealthHandlers {
  return {
    Check(call, callback) {
      const service = call.request.service;
      if (service === "") {
        callback(null, { status: isReady() ? "SERVING" : "NOT_SERVING" });
        return;
      }

      const check = namedChecks.get(service);
      if (check === undefined) {
        const known = ["", ...namedChecks.keys()].map((name) => JSON.stringify(name)).join(", ");
        callback(serviceError(Status.NOT_FOUND, `health of service ${JSON.stringify(service)} is not reported; known services: ${known}`));
        return;
      }

      const result = check();
      const trailer = new Metadata();
      for (const [key, value] of Object.entries(result.details ?? {})) {
        trailer.set(key, value);
      }
      callback(null, { status: result.serving ? "SERVING" : "NOT_SERVING" }, trailer);
    },
    Watch(call) {
      call.emit("error", serviceError(Status.UNIMPLEMENTED, "Watch is not implemented: poll Check instead"));
    },
  };
}
