/**
 * When an X.509-SVID is due for renewal. SPIRE renews when the remaining lifetime drops to
 * a jittered half-life: a fresh random fraction in [0.45, 0.55) of the full lifetime on
 * every check, so SVIDs issued together do not all renew in the same sync pass.
 */

/** Validity window of a certificate, in milliseconds since the epoch. */
export interface Validity {
  notBeforeMs: number;
  notAfterMs: number;
}

/**
 * Tells whether a certificate with `validity` should be renewed at `nowMs`: it has expired,
 * or its remaining lifetime is at most `lifetime × (0.45 + 0.1 × random())`.
 * `random` defaults to Math.random and is a parameter so tests can pin the jitter.
 */
export function shouldRotateX509(validity: Validity, nowMs: number, random: () => number = Math.random): boolean {
  if (nowMs >= validity.notAfterMs) {
    return true;
  }

  const lifetimeMs = validity.notAfterMs - validity.notBeforeMs;
  const remainingMs = validity.notAfterMs - nowMs;
  const thresholdMs = lifetimeMs * (0.45 + 0.1 * random());
  return remainingMs <= thresholdMs;
}
