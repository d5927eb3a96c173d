import { describe, expect, it } from "vitest";
import { JWT_CLOCK_LEEWAY_SECONDS, JwtSvidValidationError, publicKeyFromDer, validateJwtSvid } from "./jwt-svid-validation.js";
import type { JwtKeyLookup } from "./jwt-svid-validation.js";
import { createTestJwtKey, signTestJwt } from "./test-jwt-keys.js";
import type { TestJwtKey } from "./test-jwt-keys.js";

const NOW = 1_800_000_000;
const ec256 = createTestJwtKey("ec-256", "ES256");
const ec384 = createTestJwtKey("ec-384", "ES384");
const rsa = createTestJwtKey("rsa-1", "RS256");
const pss = createTestJwtKey("pss-1", "PS256");
const stranger = createTestJwtKey("ec-256", "ES256");

const lookup: JwtKeyLookup = (trustDomain, keyId) => {
  const key = [ec256, ec384, rsa, pss].find((candidate) => candidate.keyId === keyId);
  return trustDomain === "example.org" && key !== undefined ? publicKeyFromDer(key.authority.publicKeyDer) : undefined;
};

function claims(extra: Record<string, unknown> = {}): Record<string, unknown> {
  return { sub: "spiffe://example.org/web", aud: ["api"], exp: NOW + 300, ...extra };
}

function reason(token: string, audience = "api"): string {
  try {
    validateJwtSvid(token, audience, lookup, NOW);
  } catch (error) {
    expect(error).toBeInstanceOf(JwtSvidValidationError);
    return (error as Error).message;
  }
  throw new Error("the token was accepted");
}

describe("validateJwtSvid", () => {
  it.each<[string, TestJwtKey]>([
    ["ES256", ec256],
    ["ES384", ec384],
    ["RS256", rsa],
    ["PS256", pss],
  ])("accepts %s", (_alg, key) => {
    const validated = validateJwtSvid(signTestJwt(key, claims({ team: "blue" })), "api", lookup, NOW);

    expect(validated.spiffeId).toEqual({ trustDomain: "example.org", path: "/web" });
    expect(validated.claims.team).toBe("blue");
  });

  it("rejects alg none", () => {
    expect(reason(signTestJwt(ec256, claims(), { alg: "none" }))).toMatch(/algorithm "none" is not allowed/);
  });

  it("rejects HS256", () => {
    expect(reason(signTestJwt(ec256, claims(), { alg: "HS256" }))).toMatch(/algorithm "HS256" is not allowed/);
  });

  it("rejects a missing alg", () => {
    expect(reason(signTestJwt(ec256, claims(), { alg: undefined }))).toMatch(/algorithm null is not allowed/);
  });

  it("rejects an alg that does not fit the key", () => {
    const token = signTestJwt(ec256, claims(), { alg: "ES384" });

    expect(reason(token)).toBe("the token algorithm ES384 does not match the ec prime256v1 key of its key ID");
  });

  it("rejects RS256 with an EC key", () => {
    expect(reason(signTestJwt(ec256, claims(), { alg: "RS256" }))).toMatch(/does not match the ec prime256v1 key/);
  });

  it("rejects a missing kid", () => {
    expect(reason(signTestJwt(ec256, claims(), { kid: undefined }))).toBe("the token header has no key ID (kid)");
  });

  it("rejects a typ other than JWT or JOSE", () => {
    expect(reason(signTestJwt(ec256, claims(), { typ: "at+jwt" }))).toMatch(/type "at\+jwt" is not allowed/);
    expect(() => validateJwtSvid(signTestJwt(ec256, claims(), { typ: "JOSE" }), "api", lookup, NOW)).not.toThrow();
  });

  it("rejects a crit header", () => {
    expect(reason(signTestJwt(ec256, claims(), { crit: ["exp"] }))).toMatch(/critical extensions/);
  });

  it("rejects a missing sub", () => {
    expect(reason(signTestJwt(ec256, claims({ sub: undefined })))).toBe("the token has no sub claim");
  });

  it("rejects a sub that is no SPIFFE ID", () => {
    expect(reason(signTestJwt(ec256, claims({ sub: "https://example.org/web" })))).toMatch(
      /^the token sub claim is not a SPIFFE ID: invalid SPIFFE ID/,
    );
  });

  it("rejects a missing exp", () => {
    expect(reason(signTestJwt(ec256, claims({ exp: undefined })))).toBe("the token has no exp claim");
  });

  it("rejects an expired token", () => {
    expect(reason(signTestJwt(ec256, claims({ exp: NOW - JWT_CLOCK_LEEWAY_SECONDS - 1 })))).toBe("the token has expired");
  });

  it("accepts exp within the leeway", () => {
    const token = signTestJwt(ec256, claims({ exp: NOW - JWT_CLOCK_LEEWAY_SECONDS + 5 }));

    expect(() => validateJwtSvid(token, "api", lookup, NOW)).not.toThrow();
  });

  it("rejects a future nbf", () => {
    expect(reason(signTestJwt(ec256, claims({ nbf: NOW + JWT_CLOCK_LEEWAY_SECONDS + 10 })))).toMatch(/not valid yet/);
  });

  it("rejects a future iat", () => {
    expect(reason(signTestJwt(ec256, claims({ iat: NOW + JWT_CLOCK_LEEWAY_SECONDS + 10 })))).toMatch(/issued in the future/);
  });

  it("rejects a non-numeric exp", () => {
    expect(reason(signTestJwt(ec256, claims({ exp: "tomorrow" })))).toBe("the token exp claim is not a number of seconds");
  });

  it("accepts a string aud", () => {
    const validated = validateJwtSvid(signTestJwt(ec256, claims({ aud: "api" })), "api", lookup, NOW);

    expect(validated.claims.aud).toBe("api");
  });

  it("accepts the audience among several", () => {
    expect(() => validateJwtSvid(signTestJwt(ec256, claims({ aud: ["db", "api"] })), "api", lookup, NOW)).not.toThrow();
  });

  it("rejects a missing aud", () => {
    expect(reason(signTestJwt(ec256, claims({ aud: undefined })))).toBe("the token has no aud claim");
    expect(reason(signTestJwt(ec256, claims({ aud: [] })))).toBe("the token has no aud claim");
  });

  it("rejects the wrong audience", () => {
    expect(reason(signTestJwt(ec256, claims({ aud: ["db"] })))).toBe('expected audience "api", but the token is for ["db"]');
  });

  it("rejects an unknown kid", () => {
    expect(reason(signTestJwt(ec256, claims(), { kid: "gone" }))).toBe(
      'no JWT authority with key ID "gone" in the bundle of trust domain "example.org"',
    );
  });

  it("rejects a trust domain without keys", () => {
    expect(reason(signTestJwt(ec256, claims({ sub: "spiffe://other.test/web" })))).toMatch(/trust domain "other.test"/);
  });

  it("rejects a key of another trust domain", () => {
    const partner = createTestJwtKey("partner-1", "ES256");
    const lookupBoth: JwtKeyLookup = (trustDomain, keyId) => {
      if (trustDomain === "partner.test" && keyId === partner.keyId) {
        return publicKeyFromDer(partner.authority.publicKeyDer);
      }
      return lookup(trustDomain, keyId);
    };

    expect(() => validateJwtSvid(signTestJwt(partner, claims()), "api", lookupBoth, NOW)).toThrow(
      'no JWT authority with key ID "partner-1" in the bundle of trust domain "example.org"',
    );
    const partnerSubject = claims({ sub: "spiffe://partner.test/web" });
    const validated = validateJwtSvid(signTestJwt(partner, partnerSubject), "api", lookupBoth, NOW);
    expect(validated.spiffeId.trustDomain).toBe("partner.test");
  });

  it("rejects a signature by another key", () => {
    expect(reason(signTestJwt(stranger, claims()))).toBe("the token signature is invalid");
  });

  it("rejects a changed payload", () => {
    const [header, , signature] = signTestJwt(ec256, claims()).split(".");
    const payload = Buffer.from(JSON.stringify(claims({ sub: "spiffe://example.org/admin" }))).toString("base64url");

    expect(reason(`${header}.${payload}.${signature}`)).toBe("the token signature is invalid");
  });

  it("rejects other serializations", () => {
    expect(reason("a.b")).toMatch(/expected 3 parts/);
    expect(reason(`${signTestJwt(ec256, claims())}.extra`)).toMatch(/found 4/);
    expect(reason("!!.e30.")).toBe("the token header is not base64url-encoded");
    expect(reason(`${Buffer.from("[1]").toString("base64url")}.e30.`)).toBe("the token header is not a JSON object");
  });
});
