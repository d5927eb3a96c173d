import { setTimeout as sleep } from "node:timers/promises";
import { untilAborted } from "../../../src/common/until-aborted.js";

/** A pod list with the sequence number of the fetch that produced it. */
export interface VersionedPodList {
  /** Starts at 1 and grows by one per successful fetch. */
  version: number;
  /** Raw pod objects keyed by `metadata.uid`. */
  pods: ReadonlyMap<string, unknown>;
}

/** Shares kubelet pod list requests between concurrent attestations. */
export interface PodListFetcher {
  /**
   * Returns a pod list newer than `afterVersion` (0 for any): the cached one while it
   * is younger than the interval, else the result of the next shared request.
   */
  fetchNext(afterVersion: number, signal: AbortSignal): Promise<VersionedPodList>;
}

/**
 * Creates a fetcher over `fetchPods` that sends at most one request at a time and starts
 * requests at least `intervalMs` apart, so a burst of new workloads costs the kubelet one
 * request per interval. Callers that arrive while a request is pending or in flight
 * share its result or its error. A failed request leaves the cache as it was.
 *
 * A caller's `signal` only stops its own wait: the shared request continues for the
 * others and its result fills the cache.
 */
export function createPodListFetcher(
  fetchPods: () => Promise<ReadonlyMap<string, unknown>>,
  intervalMs: number,
  now: () => number = Date.now,
): PodListFetcher {
  let cached: { list: VersionedPodList; startedAt: number } | undefined;
  let pending: Promise<VersionedPodList> | undefined;
  let lastStart = Number.NEGATIVE_INFINITY;
  let version = 0;

  async function fetchShared(): Promise<VersionedPodList> {
    try {
      const wait = lastStart + intervalMs - now();
      if (wait > 0) {
        await sleep(wait);
      }

      lastStart = now();
      const startedAt = lastStart;
      const pods = await fetchPods();

      version += 1;
      const list = { version, pods };
      cached = { list, startedAt };
      return list;
    } finally {
      pending = undefined;
    }
  }

  return {
    async fetchNext(afterVersion, signal) {
      signal.throwIfAborted();

      if (cached !== undefined && cached.list.version > afterVersion && now() < cached.startedAt + intervalMs) {
        return cached.list;
      }

      if (pending === undefined) {
        pending = fetchShared();
        // The callers handle the error; this keeps a request whose callers all left from
        // becoming an unhandled rejection.
        pending.catch(() => undefined);
      }
      return await untilAborted(pending, signal);
    },
  };
}
