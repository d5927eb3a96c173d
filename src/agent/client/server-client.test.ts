import { describe, expect, it } from "vitest";

import { checkJwtSvid } from "./server-client.js";

const valid = { token: "header.payload.signature", id: { trust_domain: "example.org", path: "/web" }, issued_at: 1000, expires_at: 1300, hint: "h" };

describe("checkJwtSvid", () => {
  it("accepts a complete JWT-SVID", () => {
    expect(checkJwtSvid(valid)).toEqual({ token: valid.token, spiffeId: "spiffe://example.org/web", hint: "h", issuedAt: 1000, expiresAt: 1300 });
  });

  it("accepts issued_at equal to expires_at", () => {
    expect(checkJwtSvid({ ...valid, expires_at: 1000 }).expiresAt).toBe(1000);
  });

  it("rejects a missing token", () => {
    expect(() => checkJwtSvid(null)).toThrow("returned no JWT-SVID");
    expect(() => checkJwtSvid({ ...valid, token: "" })).toThrow("returned no JWT-SVID");
  });

  it("rejects zero times", () => {
    expect(() => checkJwtSvid({ ...valid, issued_at: 0 })).toThrow("without an issued-at time");
    expect(() => checkJwtSvid({ ...valid, expires_at: 0 })).toThrow("without an expiry time");
  });

  it("rejects issued_at after expires_at", () => {
    expect(() => checkJwtSvid({ ...valid, issued_at: 1301 })).toThrow("issued at 1301, after its expiry at 1300");
  });
});
