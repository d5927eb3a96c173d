import { status as Status } from "@grpc/grpc-js";
import type { HealthHandlers } from "../proto/index.js";
import { serviceError } from "./grpc-status.js";
import type { IdentitySource } from "./identity-source.js";

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
 * `tessera-agent healthcheck`. `Check` reports the whole agent: a non-empty `service` is
 * rejected with InvalidArgument, and the status is SERVING when `isReady()` returns true,
 * NOT_SERVING otherwise. `Watch` is not implemented.
 */
export function createHealthHandlers(isReady: () => boolean): HealthHandlers {
  return {
    Check(call, callback) {
      if (call.request.service !== "") {
        callback(
          serviceError(
            Status.INVALID_ARGUMENT,
            `health of service ${JSON.stringify(call.request.service)} is not reported: send an empty service name to check the agent`,
          ),
        );
        return;
      }

      callback(null, { status: isReady() ? "SERVING" : "NOT_SERVING" });
    },
    Watch(call) {
      call.emit("error", serviceError(Status.UNIMPLEMENTED, "Watch is not implemented: poll Check instead"));
    },
  };
}
