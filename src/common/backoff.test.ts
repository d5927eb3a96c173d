import { describe, expect, it } from "vitest";
import { createBackoff } from "./backoff.js";

describe("createBackoff", () => {
  it("grows by the multiplier up to the cap", () => {
    const backoff = createBackoff({ initialMs: 100, maxMs: 300, multiplier: 2, jitter: 0 });

    expect(backoff.next()).toBe(100);
    expect(backoff.next()).toBe(200);
    expect(backoff.next()).toBe(300);
    expect(backoff.next()).toBe(300);
  });

  it("starts again after reset", () => {
    const backoff = createBackoff({ initialMs: 100, maxMs: 1000, multiplier: 2, jitter: 0 });
    backoff.next();
    backoff.next();

    backoff.reset();

    expect(backoff.next()).toBe(100);
  });

  it("keeps jittered delays within the spread", () => {
    const backoff = createBackoff({ initialMs: 1000, maxMs: 1000, jitter: 0.1 });

    for (let i = 0; i < 200; i++) {
      const delay = backoff.next();
      expect(delay).toBeGreaterThanOrEqual(900);
      expect(delay).toBeLessThanOrEqual(1100);
    }
  });
});
