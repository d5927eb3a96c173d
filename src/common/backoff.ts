/** Settings for {@link createBackoff}; all durations in milliseconds. */
export interface BackoffOptions {
  initialMs: number;
  maxMs: number;
  /** Factor applied after each failure; SPIRE uses 1.5. */
  multiplier?: number;
  /** Fraction of random spread around each delay, 0.1 meaning plus or minus 10 %. */
  jitter?: number;
}

/** A retry delay sequence: `next()` after each failure, `reset()` after a success. */
export interface Backoff {
  next(): number;
  reset(): void;
}

/**
 * Creates a capped exponential backoff with jitter, so that many agents retrying after
 * the same server outage do not return in lockstep.
 *
 * @example
 * const backoff = createBackoff({ initialMs: 1000, maxMs: 30_000 });
 * await sleep(backoff.next()); // about 1 s, then 1.5 s, 2.25 s ... up to 30 s
 */
export function createBackoff(options: BackoffOptions): Backoff {
  const multiplier = options.multiplier ?? 1.5;
  const jitter = options.jitter ?? 0.1;
  let current = options.initialMs;

  return {
    next() {
      const base = Math.min(current, options.maxMs);
      current = Math.min(current * multiplier, options.maxMs);
      const spread = base * jitter * (Math.random() * 2 - 1);
      return Math.max(0, Math.round(base + spread));
    },
    reset() {
      current = options.initialMs;
    },
  };
}

/** Resolves after `ms` milliseconds, or at once when `signal` aborts. */
export function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    if (signal?.aborted) {
      resolve();
      return;
    }
    const timer = setTimeout(done, ms);
    signal?.addEventListener("abort", done, { once: true });
    function done(): void {
      clearTimeout(timer);
      signal?.removeEventListener("abort", done);
      resolve();
    }
  });
}
