/** Outcome of one call run by {@link measureCall}: its value or its error, and how long it took. */
export type MeasuredResult<T> = { elapsedMs: number; value: T; error?: undefined } | { elapsedMs: number; value?: undefined; error: unknown };

/**
 * Runs `run`, reports its duration and outcome to `report`, then resolves or rejects as
 * `run` did. `report` runs synchronously before the caller continues, so it must be
 * cheap and must not throw.
 */
export async function measureCall<T>(run: () => Promise<T>, report: ((result: MeasuredResult<T>) => void) | undefined): Promise<T> {
  const startedMs = performance.now();
  let value: T;
  try {
    value = await run();
  } catch (error) {
    report?.({ elapsedMs: performance.now() - startedMs, error });
    throw error;
  }

  report?.({ elapsedMs: performance.now() - startedMs, value });
  return value;
}
