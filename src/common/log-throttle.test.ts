import { describe, expect, it } from "vitest";

import { createLogThrottle } from "./log-throttle.js";

describe("createLogThrottle", () => {
  it("admits the first line", () => {
    const throttle = createLogThrottle(10_000, () => 0);

    expect(throttle.admit()).toEqual({ suppressed: 0 });
  });

  it("drops lines within the interval", () => {
    let clock = 0;
    const throttle = createLogThrottle(10_000, () => clock);
    throttle.admit();

    clock = 9_999;

    expect(throttle.admit()).toBeUndefined();
    expect(throttle.admit()).toBeUndefined();
  });

  it("reports the dropped count on the next line", () => {
    let clock = 0;
    const throttle = createLogThrottle(10_000, () => clock);
    throttle.admit();
    clock = 1_000;
    throttle.admit();
    throttle.admit();
    throttle.admit();

    clock = 10_000;
    const admitted = throttle.admit();
    clock = 20_000;
    const afterQuietInterval = throttle.admit();

    expect(admitted).toEqual({ suppressed: 3 });
    expect(afterQuietInterval).toEqual({ suppressed: 0 });
  });

  it("measures the interval from the last admitted line", () => {
    let clock = 0;
    const throttle = createLogThrottle(10_000, () => clock);
    throttle.admit();
    clock = 10_000;
    throttle.admit();

    clock = 15_000;

    expect(throttle.admit()).toBeUndefined();
  });
});
