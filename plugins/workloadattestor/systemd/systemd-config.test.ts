import { describe, expect, it } from "vitest";
import { parseSystemdAttestorConfig } from "./systemd-config.js";

describe("parseSystemdAttestorConfig", () => {
  it("accepts an empty or missing block", () => {
    expect(parseSystemdAttestorConfig({})).toEqual({});
    expect(parseSystemdAttestorConfig(undefined)).toEqual({});
  });

  it("rejects any key by name", () => {
    expect(() => parseSystemdAttestorConfig({ bus_address: "unix:path=/x" })).toThrow(
      'invalid systemd workload attestor configuration: unknown key "bus_address"',
    );
  });
});
