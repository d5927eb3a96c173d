import { describe, expect, it } from "vitest";

import {
  formatSpiffeId,
  isMemberOf,
  MAX_SPIFFE_ID_LENGTH,
  parseSpiffeId,
  SpiffeIdError,
  spiffeIdFromPath,
  spiffeIdsEqual,
} from "./spiffe-id.js";

describe("parseSpiffeId accepts", () => {
  const valid: Array<[string, string, string, string]> = [
    ["trust domain only", "spiffe://example.org", "example.org", ""],
    ["one segment", "spiffe://example.org/web", "example.org", "/web"],
    ["nested path", "spiffe://example.org/ns/prod/sa/default", "example.org", "/ns/prod/sa/default"],
    ["all trust domain chars", "spiffe://a-b_c.9z", "a-b_c.9z", ""],
    ["all path chars", "spiffe://td/AZaz09.-_", "td", "/AZaz09.-_"],
    ["dots inside a segment", "spiffe://td/a..b/...", "td", "/a..b/..."],
    ["trust domain of 255 bytes", `spiffe://${"a".repeat(255)}`, "a".repeat(255), ""],
  ];

  for (const [name, text, trustDomain, path] of valid) {
    it(name, () => {
      expect(parseSpiffeId(text)).toEqual({ trustDomain, path });
    });
  }

  it("ID of exactly 2048 bytes", () => {
    const text = `spiffe://td/${"a".repeat(MAX_SPIFFE_ID_LENGTH - "spiffe://td/".length)}`;
    expect(text.length).toBe(2048);
    expect(parseSpiffeId(text).path.length).toBe(2048 - "spiffe://td".length);
  });
});

describe("parseSpiffeId rejects", () => {
  const invalid: Array<[string, string, RegExp]> = [
    ["empty input", "", /the ID is empty/],
    ["missing scheme", "example.org/web", /scheme is missing/],
    ["other scheme", "https://example.org/web", /scheme "https" is not "spiffe"/],
    ["uppercase scheme", "SPIFFE://example.org/web", /must be lowercase "spiffe"/],
    ["mixed-case scheme", "Spiffe://example.org", /must be lowercase "spiffe"/],
    ["single slash after scheme", "spiffe:/example.org", /scheme is missing/],
    ["missing trust domain", "spiffe:///web", /trust domain is missing/],
    ["scheme only", "spiffe://", /trust domain is missing/],
    ["uppercase trust domain", "spiffe://Example.org/web", /uppercase letter "E"/],
    ["port", "spiffe://example.org:8080/web", /port is not allowed/],
    ["empty port", "spiffe://example.org:/web", /port is not allowed/],
    ["userinfo", "spiffe://user@example.org/web", /userinfo is not allowed/],
    ["userinfo with password", "spiffe://user:pw@example.org", /port is not allowed|userinfo/],
    ["space in trust domain", "spiffe://exa mple.org", /character " "/],
    ["non-ASCII trust domain", "spiffe://exämple.org", /character "ä"/],
    ["percent-encoded trust domain", "spiffe://ex%41mple.org", /percent-encoding/],
    ["trust domain of 256 bytes", `spiffe://${"a".repeat(256)}`, /256 bytes long, more than the maximum of 255/],
    ["query on trust domain", "spiffe://example.org?x=1", /query/],
    ["query on path", "spiffe://example.org/web?x=1", /query/],
    ["fragment on trust domain", "spiffe://example.org#frag", /fragment/],
    ["fragment on path", "spiffe://example.org/web#frag", /fragment/],
    ["root path slash", "spiffe://example.org/", /trailing slash/],
    ["trailing slash", "spiffe://example.org/web/", /trailing slash/],
    ["empty segment", "spiffe://example.org/a//b", /empty segment/],
    ["dot segment", "spiffe://example.org/a/./b", /dot segment "\."/],
    ["dot-dot segment", "spiffe://example.org/a/../b", /dot segment "\.\."/],
    ["final dot segment", "spiffe://example.org/a/.", /dot segment "\."/],
    ["percent-encoded path", "spiffe://example.org/a%20b", /percent-encoding/],
    ["space in path", "spiffe://example.org/a b", /segment "a b" contains the character " "/],
    ["colon in path", "spiffe://example.org/a:b", /character ":"/],
    ["at sign in path", "spiffe://example.org/a@b", /character "@"/],
    ["non-ASCII path", "spiffe://example.org/caf\u00e9", /character "é"/],
    ["backslash in path", "spiffe://example.org/a\\b", /character "\\\\"/],
    ["ID over 2048 bytes", `spiffe://td/${"a".repeat(2048)}`, /bytes long, more than the maximum of 2048/],
  ];

  for (const [name, text, message] of invalid) {
    it(name, () => {
      expect(() => parseSpiffeId(text)).toThrow(SpiffeIdError);
      expect(() => parseSpiffeId(text)).toThrow(message);
    });
  }

  it("error message names the input", () => {
    expect(() => parseSpiffeId("spiffe://example.org/a//b")).toThrow('invalid SPIFFE ID "spiffe://example.org/a//b"');
  });
});

describe("formatSpiffeId", () => {
  it("round-trips parsed IDs", () => {
    for (const text of ["spiffe://example.org", "spiffe://example.org/a/b-c/D_e.f"]) {
      expect(formatSpiffeId(parseSpiffeId(text))).toBe(text);
    }
  });
});

describe("spiffeIdFromPath", () => {
  it("builds an ID", () => {
    expect(spiffeIdFromPath("example.org", "/ns/prod")).toEqual({ trustDomain: "example.org", path: "/ns/prod" });
  });

  it("allows an empty path", () => {
    expect(formatSpiffeId(spiffeIdFromPath("example.org", ""))).toBe("spiffe://example.org");
  });

  const invalid: Array<[string, string, string, RegExp]> = [
    ["path without leading slash", "example.org", "web", /must start with "\/"/],
    ["empty segment", "example.org", "/a//b", /empty segment/],
    ["trailing slash", "example.org", "/a/", /trailing slash/],
    ["dot-dot segment", "example.org", "/a/..", /dot segment/],
    ["invalid path char", "example.org", "/a b", /character " "/],
    ["uppercase trust domain", "Example.org", "/a", /invalid trust domain "Example.org"/],
    ["empty trust domain", "", "/a", /trust domain is missing/],
    ["trust domain with scheme", "spiffe://example.org", "/a", /expected a bare trust domain name/],
    ["too long", "td", `/${"a".repeat(2048)}`, /more than the maximum of 2048/],
  ];

  for (const [name, trustDomain, path, message] of invalid) {
    it(`rejects ${name}`, () => {
      expect(() => spiffeIdFromPath(trustDomain, path)).toThrow(SpiffeIdError);
      expect(() => spiffeIdFromPath(trustDomain, path)).toThrow(message);
    });
  }
});

describe("isMemberOf", () => {
  it("matches its own trust domain", () => {
    expect(isMemberOf(parseSpiffeId("spiffe://example.org/web"), "example.org")).toBe(true);
  });

  it("rejects another trust domain", () => {
    expect(isMemberOf(parseSpiffeId("spiffe://example.org/web"), "example.com")).toBe(false);
  });

  it("rejects a suffix trust domain", () => {
    expect(isMemberOf(parseSpiffeId("spiffe://sub.example.org/web"), "example.org")).toBe(false);
  });
});

describe("spiffeIdsEqual", () => {
  it("compares trust domain and path", () => {
    const id = parseSpiffeId("spiffe://example.org/web");
    expect(spiffeIdsEqual(id, parseSpiffeId("spiffe://example.org/web"))).toBe(true);
    expect(spiffeIdsEqual(id, parseSpiffeId("spiffe://example.org/Web"))).toBe(false);
    expect(spiffeIdsEqual(id, parseSpiffeId("spiffe://example.com/web"))).toBe(false);
  });
});
