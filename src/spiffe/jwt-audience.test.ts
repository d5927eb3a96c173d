import { describe, expect, it } from "vitest";
import { findJwtAudienceProblem, MAX_JWT_AUDIENCE_BYTES, MAX_JWT_AUDIENCES } from "./jwt-audience.js";

describe("findJwtAudienceProblem", () => {
  it("accepts ordinary audiences", () => {
    expect(findJwtAudienceProblem(["billing", "https://api.example.org"])).toBeUndefined();
  });

  it("accepts the limits themselves", () => {
    expect(findJwtAudienceProblem(Array.from({ length: MAX_JWT_AUDIENCES }, (_, i) => `a${i}`))).toBeUndefined();
    expect(findJwtAudienceProblem(["x".repeat(MAX_JWT_AUDIENCE_BYTES)])).toBeUndefined();
  });

  const rejected: Array<[string, string[], string]> = [
    ["an empty list", [], "audience must be specified"],
    ["an empty string", ["ok", ""], "audience must not be an empty string"],
    ["too many audiences", Array.from({ length: MAX_JWT_AUDIENCES + 1 }, (_, i) => `a${i}`), "too many audiences: 65, the maximum is 64"],
    ["a too-long audience", ["x".repeat(MAX_JWT_AUDIENCE_BYTES + 1)], "audience of 2049 bytes is too long: the maximum is 2048 bytes"],
    ["a too-long audience in UTF-8 bytes", ["é".repeat(1025)], "audience of 2050 bytes is too long: the maximum is 2048 bytes"],
  ];
  for (const [name, audience, message] of rejected) {
    it(`rejects ${name}`, () => {
      expect(findJwtAudienceProblem(audience)).toBe(message);
    });
  }
});
