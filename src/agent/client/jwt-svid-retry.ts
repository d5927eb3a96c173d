import { status } from "@grpc/grpc-js";

import { createBackoff, sleep } from "../../common/backoff.js";
import { ServerRpcError } from "./rpc-failure.js";

/**
 * Status codes after which SPIRE's agent stops retrying NewJWTSVID: the request itself is
 * wrong, the server does not have the method, or the time is already spent.
 */
const FINAL_CODES: ReadonlySet<status> = new Set([
  status.UNKNOWN,
  status.CANCELLED,
  status.DEADLINE_EXCEEDED,
  status.INVALID_ARGUMENT,
  status.UNIMPLEMENTED,
]);

/** Settings for {@link retryWithinDeadline}. */
export interface RetryOptions {
  /** Total time for every attempt and wait, in milliseconds. */
  timeoutMs: number;
  /** First wait between attempts; grows by 1.5 each time. */
  initialDelayMs?: number;
  now?: () => number;
  sleep?: (ms: number) => Promise<void>;
}

/** Tells whether a failed NewJWTSVID call is worth another attempt. Errors that are not ServerRpcErrors are final. */
export function isRetryableJwtSvidFailure(error: unknown): boolean {
  return error instanceof ServerRpcError && !FINAL_CODES.has(error.code);
}

/**
 * Calls `attempt` with the absolute deadline (ms since the epoch) until it succeeds, fails
 * with a final status, or the next wait would pass the deadline; then throws the last error.
 * This mirrors SPIRE's agent, which retries NewJWTSVID with backoff from 1 s inside one deadline.
 */
export async function retryWithinDeadline<T>(attempt: (deadlineMs: number) => Promise<T>, options: RetryOptions): Promise<T> {
  const now = options.now ?? Date.now;
  const wait = options.sleep ?? sleep;
  const deadlineMs = now() + options.timeoutMs;
  const backoff = createBackoff({ initialMs: options.initialDelayMs ?? 1_000, maxMs: options.timeoutMs, jitter: 0 });

  for (;;) {
    try {
      return await attempt(deadlineMs);
    } catch (error) {
      const delayMs = backoff.next();
      if (!isRetryableJwtSvidFailure(error) || now() + delayMs >= deadlineMs) {
        throw error;
      }
      await wait(delayMs);
    }
  }
}
