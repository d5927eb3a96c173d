/** A limit of one log line per interval for a message that outside events can repeat at will. */
export interface LogThrottle {
  /**
   * Returns `{ suppressed }` when a line may be written now, where `suppressed` counts the
   * lines dropped since the last one written. Returns undefined, and counts the line as
   * dropped, while the interval since the last written line has not passed.
   */
  admit(): { suppressed: number } | undefined;
}

/**
 * Creates a {@link LogThrottle} that admits the first line and then at most one line per
 * `intervalMs` milliseconds. Dropped lines are only counted: the count appears on the next
 * admitted line, so a burst that ends within the interval is never reported.
 *
 * `now` returns the time in milliseconds; tests pass their own clock.
 */
export function createLogThrottle(intervalMs: number, now: () => number = Date.now): LogThrottle {
  let lastWrittenMs: number | undefined;
  let suppressed = 0;

  return {
    admit() {
      const currentMs = now();
      if (lastWrittenMs !== undefined && currentMs - lastWrittenMs < intervalMs) {
        suppressed++;
        return undefined;
      }

      lastWrittenMs = currentMs;
      const dropped = suppressed;
      suppressed = 0;
      return { suppressed: dropped };
    },
  };
}
