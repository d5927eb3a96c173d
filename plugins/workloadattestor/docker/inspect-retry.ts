import { setTimeout as sleep } from "node:timers/promises";

/** Waits between attempts, in milliseconds: SPIRE's three retries with doubling back-off. */
export const INSPECT_RETRY_DELAYS_MS: readonly number[] = [100, 200, 400];

/**
 * Runs `operation` and, when it fails, retries it after each delay in `delays`. A
 * container that has just started may not be known to the engine yet, so the first
 * "no such container" is not final. Returns the first success or throws the last
 * error. When `signal` aborts, the wait ends with an `AbortError`.
 */
export async function retryWhileStarting<T>(
  operation: () => Promise<T>,
  signal: AbortSignal,
  delays: readonly number[] = INSPECT_RETRY_DELAYS_MS,
): Promise<T> {
  for (let attempt = 0; ; attempt++) {
    signal.throwIfAborted();
    try {
      return await operation();
    } catch (error) {
      const delay = delays[attempt];
      if (delay === undefined) {
        throw error;
      }
      await sleep(delay, undefined, { signal });
    }
  }
}
