import { generateKeyPairSync } from "node:crypto";
import { describe, expect, it } from "vitest";
import { createRootCa, DEFAULT_CA_SUBJECT } from "../ca/x509-ca.js";
import { formatSpiffeBundle, parseSpiffeBundle } from "./spiffe-bundle-json.js";

describe("SPIFFE bundle JSON", () => {
  it("round-trips X.509 and JWT authorities", async () => {
    const root = Buffer.from((await createRootCa({ trustDomain: "other.org", ttlSeconds: 600, subject: DEFAULT_CA_SUBJECT })).certificate.rawData);
    const jwtKey = generateKeyPairSync("ec", { namedCurve: "P-256" }).publicKey.export({ format: "der", type: "spki" });
    const text = formatSpiffeBundle({
      trust_domain: "other.org",
      x509_authorities: [{ asn1: root, tainted: false }],
      jwt_authorities: [{ public_key: jwtKey, key_id: "k1", expires_at: 0, tainted: false }],
      refresh_hint: 60,
      sequence_number: 7,
      wit_authorities: [],
    });

    const parsed = parseSpiffeBundle("other.org", text);

    expect(parsed.x509_authorities).toEqual([{ asn1: root }]);
    expect(parsed.jwt_authorities).toEqual([{ public_key: jwtKey, key_id: "k1" }]);
    expect(parsed.refresh_hint).toBe(60);
    expect(parsed.sequence_number).toBe(7);
  });

  it("skips unknown uses and key types", () => {
    const text = JSON.stringify({
      keys: [
        { use: "wit-svid", kty: "EC", kid: "a" },
        { use: "jwt-svid", kty: "future", kid: "b" },
      ],
    });

    const parsed = parseSpiffeBundle("other.org", text);

    expect(parsed.x509_authorities).toEqual([]);
    expect(parsed.jwt_authorities).toEqual([]);
  });

  it("rejects malformed keys", () => {
    const noKid = JSON.stringify({ keys: [{ use: "jwt-svid", kty: "EC", crv: "P-256", x: "", y: "" }] });
    const twoCertificates = JSON.stringify({ keys: [{ use: "x509-svid", kty: "EC", x5c: ["AA==", "AA=="] }] });

    expect(() => parseSpiffeBundle("other.org", "not json")).toThrow(/^invalid SPIFFE bundle: /);
    expect(() => parseSpiffeBundle("other.org", "{}")).toThrow('invalid SPIFFE bundle: missing "keys" array');
    expect(() => parseSpiffeBundle("other.org", noKid)).toThrow("invalid SPIFFE bundle: jwt-svid key 0 has no kid");
    expect(() => parseSpiffeBundle("other.org", twoCertificates)).toThrow("x509-svid key 0 must have exactly one x5c certificate");
  });
});
