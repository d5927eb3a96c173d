import { describe, expect, it } from "vitest";

import { SpiffeIdError } from "./spiffe-id.js";
import { agentIdForJoinToken, parseTrustDomain, serverSpiffeId, trustDomainId } from "./trust-domain.js";

describe("parseTrustDomain", () => {
  it("accepts a bare name", () => {
    expect(parseTrustDomain("example.org")).toBe("example.org");
  });

  it("accepts the trust domain ID", () => {
    expect(parseTrustDomain("spiffe://example.org")).toBe("example.org");
  });

  const invalid: Array<[string, string, RegExp]> = [
    ["empty name", "", /trust domain is missing/],
    ["uppercase", "Example.org", /uppercase letter "E"/],
    ["port", "example.org:443", /port is not allowed/],
    ["ID with path", "spiffe://example.org/web", /a trust domain has no path; use "example.org"/],
    ["other scheme", "https://example.org", /scheme "https" is not "spiffe"/],
    ["trailing slash", "spiffe://example.org/", /trailing slash/],
    ["too long", "a".repeat(256), /more than the maximum of 255/],
  ];
  for (const [name, text, message] of invalid) {
    it(`rejects ${name}`, () => {
      expect(() => parseTrustDomain(text)).toThrow(SpiffeIdError);
      expect(() => parseTrustDomain(text)).toThrow(message);
    });
  }
});

describe("trust domain IDs", () => {
  it("formats the trust domain ID", () => {
    expect(trustDomainId("example.org")).toBe("spiffe://example.org");
  });

  it("formats the server ID", () => {
    expect(serverSpiffeId("example.org")).toBe("spiffe://example.org/spire/server");
  });

  it("formats the join token agent ID", () => {
    expect(agentIdForJoinToken("example.org", "3c2a1b0e-7f5d-4e61-9a8b-0c1d2e3f4a5b")).toBe(
      "spiffe://example.org/spire/agent/join_token/3c2a1b0e-7f5d-4e61-9a8b-0c1d2e3f4a5b",
    );
  });

  it("rejects an invalid trust domain", () => {
    expect(() => serverSpiffeId("EXAMPLE")).toThrow(SpiffeIdError);
  });

  const badTokens = ["", "a/b", "..", "a b", "tok%en"];
  for (const token of badTokens) {
    it(`rejects join token ${JSON.stringify(token)} without echoing it`, () => {
      expect(() => agentIdForJoinToken("example.org", token)).toThrow(/^invalid join token: it must be non-empty/);
    });
  }

  it("rejects an over-long join token without echoing it", () => {
    const token = "x".repeat(2100);
    expect(() => agentIdForJoinToken("example.org", token)).toThrow("invalid join token: the agent ID would be longer than 2048 bytes");
  });
});
