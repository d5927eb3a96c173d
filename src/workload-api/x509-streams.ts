import { status as Status } from "@grpc/grpc-js";
import type { ServerWritableStream } from "@grpc/grpc-js";
import type { workload } from "../proto/index.js";
import { authorizeCall } from "./call-authorization.js";
import type { AuthorizedCaller, CallAuthorizationContext } from "./call-authorization.js";
import { bundleMapsEqual } from "./bundle-maps.js";
import { isServiceError, serviceError } from "./grpc-status.js";
import type { IdentitySource, WorkloadX509Update } from "./identity-source.js";
import { logNoIdentityIssued } from "./no-identity-log.js";
import type { NoIdentityMethod } from "./no-identity-log.js";
import { createStreamSender } from "./stream-sender.js";
import type { StreamSender } from "./stream-sender.js";
import { composeX509BundlesResponse, composeX509SvidResponse } from "./x509-response.js";

/** Dependencies of the X.509 stream handlers beyond caller attestation. */
export interface X509StreamContext extends CallAuthorizationContext {
  identitySource: IdentitySource;
  /**
   * Lets callers without an identity read the own trust domain bundle on
   * `FetchX509Bundles` (SPIRE's `allow_unauthenticated_verifiers`). Default false.
   */
  allowUnauthenticatedVerifiers?: boolean;
}

/**
 * Serves `FetchX509SVID`: the caller's identities and bundles, then a new complete
 * message on every change. The stream ends with PermissionDenied "no identity issued"
 * when the caller has no identity at first or loses its last one later.
 */
export function serveX509Svids(
  call: ServerWritableStream<workload.X509SVIDRequest__Output, workload.X509SVIDResponse>,
  context: X509StreamContext,
): void {
  const sender = createStreamSender(call, context.logger);

  void streamUpdates(call, sender, context, (update, caller) => {
    if (update.svids.length === 0) {
      logNoIdentity(context, caller, "FetchX509SVID");
      return undefined;
    }
    context.logger.debug(
      { pid: caller.pid, registered: true, spiffe_ids: update.svids.map((svid) => svid.spiffeId) },
      "Sending X.509-SVIDs",
    );
    return composeX509SvidResponse(update);
  });
}

/**
 * Serves `FetchX509Bundles`: the own trust domain bundle, plus federated bundles for a
 * caller with an identity. A message equal to the previous one is not sent again.
 */
export function serveX509Bundles(
  call: ServerWritableStream<workload.X509BundlesRequest__Output, workload.X509BundlesResponse>,
  context: X509StreamContext,
): void {
  const sender = createStreamSender(call, context.logger);
  let previous: workload.X509BundlesResponse | undefined;

  const deduplicated: StreamSender<workload.X509BundlesResponse> = {
    signal: sender.signal,
    fail: (error) => sender.fail(error),
    send(message) {
      if (previous !== undefined && bundleResponsesEqual(previous, message)) {
        return;
      }
      previous = message;
      sender.send(message);
    },
  };

  void streamUpdates(call, deduplicated, context, (update, caller) => {
    const hasIdentity = update.svids.length > 0;
    if (!hasIdentity && context.allowUnauthenticatedVerifiers !== true) {
      logNoIdentity(context, caller, "FetchX509Bundles");
      return undefined;
    }
    return composeX509BundlesResponse(update, hasIdentity);
  });
}

/**
 * Authorizes the call, subscribes to the caller's identities and sends the message that
 * `compose` builds for the first complete update and every later one. `compose` returns
 * undefined to end the stream with PermissionDenied. The subscription closes when the
 * stream ends for any reason.
 *
 * The update listener is registered before waiting for the first update, so a change
 * that the source reports right after `ready()` resolves is queued, not lost. This relies
 * on the source reporting to listeners only changes newer than the `ready()` result.
 */
async function streamUpdates<Message>(
  call: ServerWritableStream<unknown, Message>,
  sender: StreamSender<Message>,
  context: X509StreamContext,
  compose: (update: WorkloadX509Update, caller: AuthorizedCaller) => Message | undefined,
): Promise<void> {
  try {
    const caller = await authorizeCall(call, context, sender.signal);
    if (sender.signal.aborted) {
      return;
    }

    const subscription = context.identitySource.subscribe(caller.selectors);
    sender.signal.addEventListener("abort", () => subscription.close(), { once: true });

    let queued: WorkloadX509Update[] | undefined = [];
    const deliver = (update: WorkloadX509Update): void => {
      const message = compose(update, caller);
      if (message === undefined) {
        sender.fail(serviceError(Status.PERMISSION_DENIED, "no identity issued"));
        return;
      }
      sender.send(message);
    };

    const removeListener = subscription.onUpdate((update) => {
      if (queued !== undefined) {
        queued.push(update);
      } else {
        deliver(update);
      }
    });
    sender.signal.addEventListener("abort", removeListener, { once: true });

    const first = await subscription.ready(sender.signal);
    const later = queued;
    queued = undefined;
    for (const update of [first, ...later]) {
      if (sender.signal.aborted) {
        return;
      }
      deliver(update);
    }
  } catch (error) {
    endWithError(sender, error, context);
  }
}

function endWithError(sender: StreamSender<unknown>, error: unknown, context: X509StreamContext): void {
  if (sender.signal.aborted) {
    // The client is gone, so no status can reach it.
    return;
  }
  if (isServiceError(error)) {
    sender.fail(error);
    return;
  }

  context.logger.error({ err: error }, "Workload API stream failed");
  sender.fail(serviceError(Status.INTERNAL, "internal error while serving the Workload API call"));
}

function logNoIdentity(context: X509StreamContext, caller: AuthorizedCaller, method: NoIdentityMethod): void {
  logNoIdentityIssued(context.logger, { pid: caller.pid, selectors: caller.selectors, method, logSelectors: context.logSelectors });
}

function bundleResponsesEqual(a: workload.X509BundlesResponse, b: workload.X509BundlesResponse): boolean {
  // composeX509BundlesResponse only puts Buffers in the map.
  return bundleMapsEqual((a.bundles ?? {}) as Record<string, Buffer>, (b.bundles ?? {}) as Record<string, Buffer>);
}
