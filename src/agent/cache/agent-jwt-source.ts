import { selectorsSatisfy } from "../../spiffe/selector.js";
import type { JwtIdentity, JwtSource, WorkloadJwtSvid } from "../../workload-api/jwt-source.js";
import type { JwtBundleStore } from "./jwt-bundle-store.js";
import type { JwtSvidCache } from "./jwt-svid-cache.js";
import { compareEntryIds } from "./subscriptions.js";
import type { X509Cache } from "./x509-cache.js";

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
      // The server call may be shared with other workloads, so an abort only stops waiting for it.
      const svid = await abortable(jwtSvids.fetch(identity.entryId, identity.spiffeId, audience), signal);
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

function abortable<T>(promise: Promise<T>, signal: AbortSignal): Promise<T> {
  if (signal.aborted) {
    return Promise.reject(abortReason(signal));
  }

  return new Promise<T>((resolve, reject) => {
    const onAbort = (): void => reject(abortReason(signal));
    signal.addEventListener("abort", onAbort, { once: true });
    promise.then(
      (value) => {
        signal.removeEventListener("abort", onAbort);
        resolve(value);
      },
      (error: unknown) => {
        signal.removeEventListener("abort", onAbort);
        reject(error as Error);
      },
    );
  });
}

function abortReason(signal: AbortSignal): Error {
  const reason: unknown = signal.reason;
  return reason instanceof Error ? reason : new Error("fetching the JWT-SVID was aborted");
}
