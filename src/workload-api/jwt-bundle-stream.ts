import { status as Status } from "@grpc/grpc-js";
import type { ServerWritableStream } from "@grpc/grpc-js";
import type { workload } from "../proto/index.js";
import { authorizeCall } from "./call-authorization.js";
import type { AuthorizedCaller } from "./call-authorization.js";
import { isServiceError, serviceError } from "./grpc-status.js";
import { bundleMapsEqual } from "./bundle-maps.js";
import { callerJwtBundles, composeJwtBundleMap } from "./jwt-bundles.js";
import type { JwtMethodContext } from "./jwt-method-context.js";
import { logNoIdentityIssued } from "./no-identity-log.js";
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
 * The message is recomputed on every JwtSource bundle update and, when the context has an
 * identity source, on every X.509 update of the caller's entries, as SPIRE also follows
 * its cache subscription here. Without an identity source, entry changes show up only at
 * the next bundle update.
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

    const sendCurrentOrFail = (): void => {
      try {
        sendCurrent();
      } catch (error) {
        endWithError(error);
      }
    };
    const removeListener = context.jwtSource.onBundleUpdate(sendCurrentOrFail);
    sender.signal.addEventListener("abort", removeListener, { once: true });
    followEntryChanges(caller, context, sender.signal, sendCurrentOrFail);
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

/**
 * Calls `onChange` after each X.509 update for the caller's selectors until `signal`
 * aborts. The agent's cache reports updates only after `ready()` has resolved once, so
 * `ready()` is started here but not awaited, because the first message needs no X.509-SVIDs.
 */
function followEntryChanges(caller: AuthorizedCaller, context: JwtMethodContext, signal: AbortSignal, onChange: () => void): void {
  if (context.identitySource === undefined || signal.aborted) {
    return;
  }

  const subscription = context.identitySource.subscribe(caller.selectors);
  const removeListener = subscription.onUpdate(onChange);
  signal.addEventListener(
    "abort",
    () => {
      removeListener();
      subscription.close();
    },
    { once: true },
  );
  subscription.ready(signal).then(onChange, (error: unknown) => {
    if (!signal.aborted) {
      context.logger.warn({ err: error, pid: caller.pid }, "Stopped following entry changes for a JWT bundle stream");
    }
  });
}

/** Returns the caller's bundle map, or undefined when it may not read bundles. */
function composeCallerBundles(caller: AuthorizedCaller, context: JwtMethodContext): Record<string, Buffer> | undefined {
  const identities = context.jwtSource.matchingIdentities(caller.selectors);
  if (identities.length === 0 && context.allowUnauthenticatedVerifiers !== true) {
    logNoIdentityIssued(context.logger, {
      pid: caller.pid,
      selectors: caller.selectors,
      method: "FetchJWTBundles",
      logSelectors: context.logSelectors,
    });
    return undefined;
  }
  return composeJwtBundleMap(callerJwtBundles(context.jwtSource, identities));
}
