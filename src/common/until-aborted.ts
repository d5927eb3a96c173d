/**
 * Returns a promise that settles like `promise`, or rejects with the abort reason as soon
 * as `signal` aborts. It stops waiting for `promise` but does not cancel it, so the work
 * may still finish (a shared fetch that other callers wait for, say).
 *
 * @example
 * const svid = await untilAborted(cache.fetch(entryId, spiffeId, audience), call.signal);
 */
export function untilAborted<T>(promise: Promise<T>, signal: AbortSignal): Promise<T> {
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
  return reason instanceof Error ? reason : new Error("the operation was aborted");
}
