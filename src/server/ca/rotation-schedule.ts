/**
 * When the server replaces a signing authority (the X.509 CA or the JWT signing key). As in
 * SPIRE (pkg/server/ca/manager), the successor is prepared and published in the bundle when
 * half of the active authority's lifetime is left (30 days at most). It takes over signing
 * when a sixth is left (7 days at most). The gap gives agents a third of the lifetime to
 * fetch the new bundle before anything signed by the successor reaches them. Old authorities stay in the bundle until they expire, and nothing they sign
 * outlives them, so everything they signed keeps verifying.
 */

/** The part of an authority's life that rotation is planned from, in ms since the epoch. */
export interface AuthorityLifetime {
  /** When the server made the authority: its X.509 notBefore without the backdate. */
  issuedAtMs: number;
  notAfterMs: number;
}

/** Default and longest wait between two rotation checks. */
export const DEFAULT_ROTATION_CHECK_INTERVAL_MS = 10_000;

/** Shortest wait between two rotation checks, so that a clock behind the plan cannot spin the timer. */
const MIN_ROTATION_CHECK_INTERVAL_MS = 100;

const DAY_MS = 86_400_000;

/** Returns when the successor of `active` is prepared: when half of its lifetime, or 30 days, is left. */
export function prepareTimeMs(active: AuthorityLifetime): number {
  return active.notAfterMs - Math.min(lifetimeMs(active) / 2, 30 * DAY_MS);
}

/**
 * Returns when a successor prepared (and published) at `preparedAtMs` takes over from
 * `active`: when a sixth of the active lifetime, or 7 days, is left. It waits until the
 * successor has been published for that long too, but never past the active authority's
 * expiry. The publication rule matters after downtime, when preparation happened late:
 * activating in the same step as preparing would sign with an authority no agent has yet.
 */
export function activationTimeMs(active: AuthorityLifetime, preparedAtMs: number): number {
  const leadMs = Math.min(lifetimeMs(active) / 6, 7 * DAY_MS);
  const planned = Math.max(active.notAfterMs - leadMs, preparedAtMs + leadMs);
  return Math.min(planned, active.notAfterMs);
}

/**
 * Returns how long to wait until the next rotation check: until the earliest of
 * `eventTimesMs` (at once for one already past), at least 100 ms and at most `maxIntervalMs`.
 */
export function rotationCheckDelayMs(nowMs: number, eventTimesMs: readonly number[], maxIntervalMs: number): number {
  let delayMs = maxIntervalMs;
  for (const eventMs of eventTimesMs) {
    delayMs = Math.min(delayMs, eventMs - nowMs);
  }
  return Math.max(MIN_ROTATION_CHECK_INTERVAL_MS, delayMs);
}

/** Settings of {@link startRotationTimer}. */
export interface RotationTimerOptions {
  /** Performs whatever rotation step is due. */
  rotate: () => Promise<void>;
  /** Times (ms since the epoch) at which rotate() has something to do. */
  upcomingEvents: () => number[];
  now: () => number;
  /** Maximum wait between two calls of rotate(). */
  intervalMs: number;
  /** Receives a failure of rotate(); the next call then comes `intervalMs` later, so errors do not repeat at once. */
  onError: (error: unknown) => void;
}

/** Calls `rotate` at each upcoming event and at least every `intervalMs`. Returns a function that stops the timer. */
export function startRotationTimer(options: RotationTimerOptions): () => void {
  let timer: NodeJS.Timeout | undefined;
  let stopped = false;

  function schedule(delayMs: number): void {
    timer = setTimeout(() => {
      options.rotate().then(
        () => {
          if (!stopped) schedule(rotationCheckDelayMs(options.now(), options.upcomingEvents(), options.intervalMs));
        },
        (error: unknown) => {
          options.onError(error);
          if (!stopped) schedule(options.intervalMs);
        },
      );
    }, delayMs);
    timer.unref();
  }

  schedule(rotationCheckDelayMs(options.now(), options.upcomingEvents(), options.intervalMs));
  return () => {
    stopped = true;
    clearTimeout(timer);
  };
}

function lifetimeMs(authority: AuthorityLifetime): number {
  return authority.notAfterMs - authority.issuedAtMs;
}
