import { describe, expect, it } from "vitest";

import { shouldRotateX509 } from "./rotation.js";

const HOUR = 3_600_000;
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
