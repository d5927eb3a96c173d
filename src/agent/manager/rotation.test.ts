import { describe, expect, it } from "vitest";

import { issuedValidity, planX509Renewal, shouldRotateX509, shouldRotateX509WithTarget } from "./rotation.js";

const HOUR = 3_600_000;
const MINUTE = 60_000;
const validity = { notBeforeMs: 0, notAfterMs: 100 * HOUR };

describe("shouldRotateX509", () => {
  it("keeps a young SVID", () => {
    expect(shouldRotateX509(validity, 10 * HOUR, () => 0.999)).toBe(false);
  });

  it("renews at 45 % remaining with the lowest jitter", () => {
    expect(shouldRotateX509(validity, 54 * HOUR, () => 0)).toBe(false);
    expect(shouldRotateX509(validity, 55 * HOUR, () => 0)).toBe(true);
  });

  it("renews at 55 % remaining with the highest jitter", () => {
    expect(shouldRotateX509(validity, 44 * HOUR, () => 0.9999)).toBe(false);
    expect(shouldRotateX509(validity, 45.5 * HOUR, () => 0.9999)).toBe(true);
  });

  it("always renews an expired SVID", () => {
    expect(shouldRotateX509(validity, 100 * HOUR, () => 0)).toBe(true);
    expect(shouldRotateX509(validity, 200 * HOUR, () => 0)).toBe(true);
  });

  it("renews in the window for random jitter", () => {
    for (let i = 0; i < 200; i++) {
      expect(shouldRotateX509(validity, 40 * HOUR)).toBe(false);
      expect(shouldRotateX509(validity, 60 * HOUR)).toBe(true);
    }
  });
});

describe("planX509Renewal", () => {
  it("plans the half-life window without a target", () => {
    expect(planX509Renewal(validity, undefined, () => 0)).toEqual({ renewAtMs: 55 * HOUR, rule: "half_life", targetUnmet: false });
    expect(planX509Renewal(validity, undefined, () => 0.5).renewAtMs).toBe(50 * HOUR);
  });

  it("spreads SVIDs issued together over the window", () => {
    const times = Array.from({ length: 1000 }, () => planX509Renewal(validity).renewAtMs);
    const earliest = Math.min(...times);
    const latest = Math.max(...times);

    expect(earliest).toBeGreaterThan(45 * HOUR - 1);
    expect(latest).toBeLessThanOrEqual(55 * HOUR);
    // 1000 uniform draws over a 10-hour window leave no gap near either end.
    expect(earliest).toBeLessThan(45.5 * HOUR);
    expect(latest).toBeGreaterThan(54.5 * HOUR);
  });

  it("uses the availability target for long lifetimes", () => {
    const target = 24 * HOUR;

    const lowest = planX509Renewal(validity, target, () => 0);
    const highest = planX509Renewal(validity, target, () => 0.9999);

    expect(lowest).toEqual({ renewAtMs: 76 * HOUR, rule: "availability_target", targetUnmet: false });
    expect(highest.renewAtMs).toBeGreaterThan(76 * HOUR - 10 * MINUTE);
    expect(highest.renewAtMs).toBeLessThan(76 * HOUR - 9.99 * MINUTE);
  });

  it("falls back to half-life when the margin is 12 h or less", () => {
    const shortLived = { notBeforeMs: 0, notAfterMs: 36 * HOUR };

    const plan = planX509Renewal(shortLived, 24 * HOUR, () => 0.5);

    expect(plan).toEqual({ renewAtMs: 18 * HOUR, rule: "half_life", targetUnmet: true });
  });
});

describe("shouldRotateX509WithTarget", () => {
  it("renews at the target for long lifetimes", () => {
    expect(shouldRotateX509WithTarget(validity, 75 * HOUR, 24 * HOUR, () => 0)).toBe(false);
    expect(shouldRotateX509WithTarget(validity, 76 * HOUR, 24 * HOUR, () => 0)).toBe(true);
  });

  it("always renews an expired SVID", () => {
    expect(shouldRotateX509WithTarget(validity, 100 * HOUR, 24 * HOUR, () => 0)).toBe(true);
  });
});

describe("issuedValidity", () => {
  it("counts the lifetime from the request", () => {
    const backdated = { notBeforeMs: 0, notAfterMs: 20_000 };

    expect(issuedValidity(backdated, 10_000)).toEqual({ notBeforeMs: 10_000, notAfterMs: 20_000 });
  });

  it("keeps a notBefore later than the request", () => {
    expect(issuedValidity({ notBeforeMs: 5_000, notAfterMs: 20_000 }, 1_000)).toEqual({ notBeforeMs: 5_000, notAfterMs: 20_000 });
  });

  it("never starts after notAfter", () => {
    expect(issuedValidity({ notBeforeMs: 0, notAfterMs: 20_000 }, 30_000)).toEqual({ notBeforeMs: 20_000, notAfterMs: 20_000 });
  });
});
