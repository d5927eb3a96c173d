import { describe, expect, it } from "vitest";

import { checkKeys } from "./check-keys.js";

describe("checkKeys", () => {
  it("accepts known keys", () => {
    expect(() => checkKeys({ port: 1 }, "telemetry.Prometheus", ["host", "port"], [])).not.toThrow();
  });

  it("suggests a lowercase key for a misspelling", () => {
    expect(() => checkKeys({ prot: 1 }, "telemetry.Prometheus", ["host", "port"], [])).toThrow("did you mean port?");
  });

  it("suggests a mixed-case key for a misspelling", () => {
    expect(() => checkKeys({ MetricPrefx: "x" }, "telemetry", ["MetricPrefix", "Prometheus"], [])).toThrow("did you mean MetricPrefix?");
  });
});
