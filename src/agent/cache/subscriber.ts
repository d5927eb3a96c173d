import type { Logger } from "../../common/log.js";
import type { Selector } from "../../spiffe/selector.js";
import { formatSelector } from "../../spiffe/selector.js";
import type { WorkloadX509Update, X509Subscription } from "../../workload-api/identity-source.js";
import type { CacheView, UpdateFingerprint } from "./subscriptions.js";
import { allMinted, buildWorkloadUpdate, matchingEntries, sameFingerprint } from "./subscriptions.js";

/** The cache's handle on one workload subscription. */
export interface Subscriber {
  readonly selectors: readonly Selector[];
  /** The object handed to the Workload API. */
  readonly subscription: X509Subscription;
  /** Re-evaluates the subscription after a cache change: resolves waiters, notifies listeners. */
  refresh(): void;
}

/** Callbacks a subscriber needs from the cache that owns it. */
export interface SubscriberHooks {
  view(): CacheView;
  /** Called while `ready()` waits for SVIDs that are not minted yet. */
  onWaiting(subscriber: Subscriber): void;
  onClose(subscriber: Subscriber): void;
  logger: Logger;
}

interface Waiter {
  resolve(update: WorkloadX509Update): void;
  reject(error: Error): void;
}

/**
 * Creates a subscriber for a workload with `selectors`.
 *
 * Listeners hear about an update only after `ready()` has delivered a first complete one,
 * and only when something they would see changed (an SVID re-minted, an entry added,
 * removed or edited, a bundle changed). An entry added later shows up once its SVID is
 * minted, so no listener ever sees an entry without an SVID.
 */
export function createSubscriber(selectors: readonly Selector[], hooks: SubscriberHooks): Subscriber {
  const listeners = new Set<(update: WorkloadX509Update) => void>();
  const waiters = new Set<Waiter>();
  let delivered: UpdateFingerprint | undefined;
  let closed = false;

  function current(): { complete: boolean; update: WorkloadX509Update; fingerprint: UpdateFingerprint } {
    const view = hooks.view();
    const matching = matchingEntries(view, selectors);
    return { complete: allMinted(view, matching), ...buildWorkloadUpdate(view, matching) };
  }

  function notifyListeners(update: WorkloadX509Update): void {
    for (const listener of [...listeners]) {
      try {
        listener(update);
      } catch (error) {
        hooks.logger.error({ err: error, selectors: selectors.map(formatSelector) }, "Workload update listener failed");
      }
    }
  }

  const subscriber: Subscriber = {
    selectors,

    refresh() {
      if (closed || (waiters.size === 0 && delivered === undefined)) {
        return;
      }

      const state = current();
      if (waiters.size > 0 && state.complete) {
        delivered = state.fingerprint;
        for (const waiter of [...waiters]) {
          waiter.resolve(state.update);
        }
        waiters.clear();
        return;
      }

      if (delivered !== undefined && !sameFingerprint(delivered, state.fingerprint)) {
        delivered = state.fingerprint;
        notifyListeners(state.update);
      }
    },

    subscription: {
      ready(signal) {
        return new Promise<WorkloadX509Update>((resolve, reject) => {
          if (closed) {
            reject(new Error("the X.509 subscription is closed"));
            return;
          }
          if (signal?.aborted) {
            reject(abortError(signal));
            return;
          }

          const state = current();
          if (state.complete) {
            delivered = state.fingerprint;
            resolve(state.update);
            return;
          }

          const onAbort = (): void => {
            waiters.delete(waiter);
            reject(abortError(signal));
          };
          const waiter: Waiter = {
            resolve(update) {
              signal?.removeEventListener("abort", onAbort);
              resolve(update);
            },
            reject(error) {
              signal?.removeEventListener("abort", onAbort);
              reject(error);
            },
          };
          waiters.add(waiter);
          signal?.addEventListener("abort", onAbort, { once: true });
          hooks.onWaiting(subscriber);
        });
      },

      onUpdate(listener) {
        listeners.add(listener);
        return () => {
          listeners.delete(listener);
        };
      },

      close() {
        if (closed) {
          return;
        }
        closed = true;
        listeners.clear();
        for (const waiter of [...waiters]) {
          waiter.reject(new Error("the X.509 subscription was closed while waiting for SVIDs"));
        }
        waiters.clear();
        hooks.onClose(subscriber);
      },
    },
  };

  return subscriber;
}

function abortError(signal: AbortSignal | undefined): Error {
  const reason: unknown = signal?.reason;
  return reason instanceof Error ? reason : new Error("waiting for X.509-SVIDs was aborted");
}
