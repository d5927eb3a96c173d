import { describe, expect, it } from "vitest";
import { isLoggableSelector, logNoIdentityIssued } from "./no-identity-log.js";
import { captureLogger } from "./test-logger.js";

const SELECTORS = [
  { type: "unix", value: "uid:1000" },
  { type: "k8s", value: "sa:web" },
  { type: "k8s", value: "ns:default" },
  { type: "docker", value: "env:API_KEY=s3cret" },
];

describe("isLoggableSelector", () => {
  it("matches whole parts of the selector", () => {
    expect(isLoggableSelector("k8s:ns:default", ["k8s:ns"])).toBe(true);
    expect(isLoggableSelector("k8s:ns", ["k8s:ns"])).toBe(true);
    expect(isLoggableSelector("unix:uid:0", ["unix"])).toBe(true);
    expect(isLoggableSelector("k8s:ns-extra:x", ["k8s:ns"])).toBe(false);
    expect(isLoggableSelector("k8s:n", ["k8s:ns"])).toBe(false);
    expect(isLoggableSelector("k8s_psat:cluster:a", ["k8s"])).toBe(false);
  });

  it("treats a prefix ending in a colon as a plain prefix", () => {
    expect(isLoggableSelector("docker:label:app:web", ["docker:label:"])).toBe(true);
    expect(isLoggableSelector("docker:env:A=1", ["docker:label:"])).toBe(false);
  });

  it("matches nothing without prefixes", () => {
    expect(isLoggableSelector("unix:uid:0", [])).toBe(false);
  });
});

describe("logNoIdentityIssued", () => {
  it("logs allowed selectors sorted and counts the rest", () => {
    const { logger, lines } = captureLogger();

    logNoIdentityIssued(logger, { pid: 42, selectors: SELECTORS, method: "FetchX509SVID", logSelectors: ["k8s", "unix:uid"] });

    expect(lines).toHaveLength(1);
    expect(lines[0]).toMatchObject({
      level: 50,
      msg: "No identity issued",
      pid: 42,
      method: "FetchX509SVID",
      service: "WorkloadAPI",
      registered: false,
      selectors: ["k8s:ns:default", "k8s:sa:web", "unix:uid:1000"],
      selectors_hidden: 1,
    });
    expect(JSON.stringify(lines[0])).not.toContain("s3cret");
  });

  it("leaves out the hidden count when all are shown", () => {
    const { logger, lines } = captureLogger();

    logNoIdentityIssued(logger, { pid: 7, selectors: SELECTORS.slice(0, 1), method: "FetchJWTBundles", logSelectors: ["unix"] });

    expect(lines[0]?.selectors).toEqual(["unix:uid:1000"]);
    expect(lines[0]).not.toHaveProperty("selectors_hidden");
  });

  it("names the requested SPIFFE ID", () => {
    const { logger, lines } = captureLogger();

    logNoIdentityIssued(logger, { pid: 7, selectors: [], method: "FetchJWTSVID", requestedSpiffeId: "spiffe://example.org/db" });
    logNoIdentityIssued(logger, { pid: 7, selectors: [], method: "FetchJWTSVID", requestedSpiffeId: "" });

    expect(lines[0]?.spiffe_id).toBe("spiffe://example.org/db");
    expect(lines[1]).not.toHaveProperty("spiffe_id");
  });
});
