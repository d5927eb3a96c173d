import { status as Status } from "@grpc/grpc-js";
import type { ServerWritableStream } from "@grpc/grpc-js";
import type { workload } from "../proto/index.js";
import { formatSelector } from "../spiffe/selector.js";
import { authorizeCall } from "./call-authorization.js";
import type { AuthorizedCaller } from "./call-authorization.js";
import { isServiceError, serviceError } from "./grpc-status.js";
import { bundleMapsEqual } from "./bundle-maps.js";
import { callerJwtBundles, composeJwtBundleMap } from "./jwt-bundles.js";
import type { JwtMethodContext } from "./jwt-method-context.js";
import { createStreamSender } from "./stream-sender.js";

/**
 * Serves `FetchJWTBundles`: JWK Sets of the agent's own trust domain and of the trust
 * domains that the caller's identities federate with, then a new complete message after
 * each bundle change. A message equal to the previous one is not sent again.
 *
 * A caller without an identity gets PermissionDenied "no identity issued", or only the
 * own bundle when unauthenticated verifiers are allowed. The stream ends the same way
 * when the caller loses its last identity.
 *
 * NOTE: the stream recomputes only when the JwtSource reports a bundle update, so an
 * entry change (a new `federates_with`, a removed entry) shows up only when the source
 * also reports it through `onBundleUpdate`.
 */
export function serveJwtBundles(
  call: ServerWritableStream<workload.JWTBundlesRequest__Output, workload.JWTBundlesResponse>,
  context: JwtMethodContext,
): void {
  const sender = createStreamSender(call, context.logger);

  const run = async (): Promise<void> => {
    const caller = await authorizeCall(call, context, sender.signal);
    if (sender.signal.aborted) {
      return;
    }

    let previous: Record<string, Buffer> | undefined;
    const sendCurrent = (): void => {
      const bundles = composeCallerBundles(caller, context);
      if (bundles === undefined) {
        sender.fail(serviceError(Status.PERMISSION_DENIED, "no identity issued"));
        return;
      }
      if (previous !== undefined && bundleMapsEqual(previous, bundles)) {
        return;
      }
      previous = bundles;
      sender.send({ bundles });
    };

    const removeListener = context.jwtSource.onBundleUpdate(() => {
      try {
        sendCurrent();
      } catch (error) {
        endWithError(error);
      }
    });
    sender.signal.addEventListener("abort", removeListener, { once: true });
    sendCurrent();
  };

  const endWithError = (error: unknown): void => {
    if (sender.signal.aborted) {
      return;
    }
    if (isServiceError(error)) {
      sender.fail(error);
      return;
    }
    context.logger.error({ err: error }, "Failed to send JWT bundles");
    sender.fail(serviceError(Status.INTERNAL, `failed to send JWT bundles: ${(error as Error).message}`));
  };

  void run().catch(endWithError);
}

/** Returns the caller's bundle map, or undefined when it may not read bundles. */
function composeCallerBundles(caller: AuthorizedCaller, context: JwtMethodContext): Record<string, Buffer> | undefined {
  const identities = context.jwtSource.matchingIdentities(caller.selectors);
  if (identities.length === 0 && context.allowUnauthenticatedVerifiers !== true) {
    context.logger.error(
      { pid: caller.pid, registered: false, selectors: caller.selectors.map(formatSelector) },
      "No identity issued",
    );
    return undefined;
  }
  return composeJwtBundleMap(callerJwtBundles(context.jwtSource, identities));
}
