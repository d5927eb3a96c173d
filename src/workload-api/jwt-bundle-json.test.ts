import { describe, expect, it } from "vitest";
import { marshalJwtBundle } from "./jwt-bundle-json.js";
import { createTestJwtKey } from "./test-jwt-keys.js";

describe("marshalJwtBundle", () => {
  it("writes an empty key list", () => {
    expect(marshalJwtBundle([]).toString("utf8")).toBe('{\n    "keys": []\n}');
  });

  it("writes no use member", () => {
    const key = createTestJwtKey("k1", "ES384");

    const jwks = JSON.parse(marshalJwtBundle([key.authority]).toString("utf8")) as { keys: Array<Record<string, string>> };

    expect(jwks.keys).toHaveLength(1);
    expect(jwks.keys[0]!.use).toBeUndefined();
    expect(jwks.keys[0]!.crv).toBe("P-384");
    expect(Buffer.from(jwks.keys[0]!.x!, "base64url")).toHaveLength(48);
  });

  it("names the authority whose key is broken", () => {
    expect(() => marshalJwtBundle([{ keyId: "bad", publicKeyDer: Buffer.from("no key"), expiresAt: 0 }])).toThrow(
      /^failed to encode JWT authority "bad" as a JWK: /,
    );
  });
});
