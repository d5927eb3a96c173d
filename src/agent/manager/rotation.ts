/**
 * When an X.509-SVID is due for renewal. SPIRE renews when the remaining lifetime drops to
 * a jittered half-life: a random fraction in [0.45, 0.55) of the full lifetime. With an
 * `availability_target`, long-lived SVIDs are instead renewed when the remaining lifetime
 * drops to the target plus up to 10 minutes of jitter.
 */

/** Validity window of a certificate, in milliseconds since the epoch. */
export interface Validity {
  notBeforeMs: number;
  notAfterMs: number;
}

/** Smallest `availability_target` SPIRE accepts: 24 hours. */
export const MIN_AVAILABILITY_TARGET_MS = 24 * 3_600_000;

/** The availability target applies only when the lifetime exceeds it by more than this (12 hours). */
const AVAILABILITY_TARGET_MARGIN_MS = 12 * 3_600_000;

/** Upper bound of the random time added to the availability target (10 minutes). */
const AVAILABILITY_TARGET_JITTER_MS = 10 * 60_000;

/**
 * Tells whether a certificate with `validity` should be renewed at `nowMs`: it has expired,
 * or its remaining lifetime is at most `lifetime × (0.45 + 0.1 × random())`.
 * `random` defaults to Math.random and is a parameter so tests can pin the jitter. The
 * jitter is drawn again on every call; {@link planX509Renewal} draws it once per SVID.
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

/** The renewal time chosen for one SVID, and the rule that chose it. */
export interface PlannedRenewal {
  renewAtMs: number;
  /**
   * `availability_target` when the target decided; `half_life` otherwise, including when
   * a target is set but the lifetime is too short for it (see {@link planX509Renewal}).
   */
  rule: "half_life" | "availability_target";
  /** True when a target is set but could not be used for this lifetime; callers warn about it. */
  targetUnmet: boolean;
}

/**
 * Draws the time at which an SVID with `validity` should be renewed, once, when it is
 * stored. Drawing once per SVID spreads the renewals of SVIDs minted together uniformly
 * over the jitter window, instead of bunching them at the window's start as a fresh draw
 * at every check does.
 *
 * - Without `availabilityTargetMs`: at `lifetime × [0.45, 0.55)` remaining.
 * - With it, when `lifetime − target > 12 h`: at `target + [0, 10 min)` remaining.
 * - With it but a shorter lifetime: the half-life rule, and `targetUnmet` is set.
 *
 * The result is never after `notAfterMs`.
 */
export function planX509Renewal(validity: Validity, availabilityTargetMs?: number, random: () => number = Math.random): PlannedRenewal {
  const lifetimeMs = validity.notAfterMs - validity.notBeforeMs;
  const targetSet = availabilityTargetMs !== undefined && availabilityTargetMs > 0;

  if (targetSet && lifetimeMs - availabilityTargetMs > AVAILABILITY_TARGET_MARGIN_MS) {
    const thresholdMs = availabilityTargetMs + AVAILABILITY_TARGET_JITTER_MS * random();
    return { renewAtMs: validity.notAfterMs - thresholdMs, rule: "availability_target", targetUnmet: false };
  }

  const thresholdMs = lifetimeMs * (0.45 + 0.1 * random());
  return { renewAtMs: validity.notAfterMs - thresholdMs, rule: "half_life", targetUnmet: targetSet };
}

/**
 * Tells whether an SVID with `validity` should be renewed at `nowMs` under an
 * availability target, drawing the jitter again on every call as {@link shouldRotateX509}
 * does. For callers that check on a fixed interval instead of planning (the agent SVID).
 */
export function shouldRotateX509WithTarget(
  validity: Validity,
  nowMs: number,
  availabilityTargetMs?: number,
  random: () => number = Math.random,
): boolean {
  if (nowMs >= validity.notAfterMs) {
    return true;
  }
  return nowMs >= planX509Renewal(validity, availabilityTargetMs, random).renewAtMs;
}

/**
 * Returns the validity to plan a workload SVID's renewal from: the lifetime counts from
 * when the agent sent the CSR, not from `notBefore`, because servers backdate `notBefore`
 * for clock skew (SPIRE and Tessera by 10 s). With a 10 s TTL the certificate spans 20 s,
 * and the half-life of that span falls at the moment the SVID arrives. A `notBefore` later
 * than the request (a server clock ahead of the agent's) is kept.
 */
export function issuedValidity(validity: Validity, requestedAtMs: number): Validity {
  return { notBeforeMs: Math.max(validity.notBeforeMs, Math.min(requestedAtMs, validity.notAfterMs)), notAfterMs: validity.notAfterMs };
}
