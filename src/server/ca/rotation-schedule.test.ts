import { describe, expect, it } from "vitest";

import { activationTimeMs, prepareTimeMs, rotationCheckDelayMs } from "./rotation-schedule.js";

const lifetime = { issuedAtMs: 1_000, notAfterMs: 601_000 };

const DAY = 86_400_000;
const year = { issuedAtMs: 0, notAfterMs: 365 * DAY };

describe("prepareTimeMs", () => {
  it("is at half of the lifetime", () => {
    expect(prepareTimeMs(lifetime)).toBe(301_000);
  });

  it("is at most 30 days before expiry", () => {
    expect(prepareTimeMs(year)).toBe(335 * DAY);
  });
});

describe("activationTimeMs", () => {
  it("is at five sixths after an on-time preparation", () => {
    expect(activationTimeMs(lifetime, 301_000)).toBe(501_000);
  });

  it("waits a sixth of the lifetime after a late preparation", () => {
    expect(activationTimeMs(lifetime, 451_000)).toBe(551_000);
  });

  it("never waits past the active authority's expiry", () => {
    expect(activationTimeMs(lifetime, 571_000)).toBe(601_000);
  });

  it("is at most 7 days before expiry", () => {
    expect(activationTimeMs(year, 335 * DAY)).toBe(358 * DAY);
  });
});

describe("rotationCheckDelayMs", () => {
  it("waits for the earliest event", () => {
    expect(rotationCheckDelayMs(0, [5_000, 2_000, 9_000], 10_000)).toBe(2_000);
  });

  it("waits at most the interval", () => {
    expect(rotationCheckDelayMs(0, [50_000], 10_000)).toBe(10_000);
  });

  it("runs soon for a past event", () => {
    expect(rotationCheckDelayMs(10_000, [2_000], 10_000)).toBe(100);
  });
});
