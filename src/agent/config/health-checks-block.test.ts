import { describe, expect, it } from "vitest";

import { parseConfigText } from "../../config/hcl.js";
import { readHealthChecksBlock } from "./health-checks-block.js";

/** Parses `health_checks { <body> }` as agent.conf would and reads the block. */
function read(body: string) {
  return readHealthChecksBlock(parseConfigText(`health_checks {\n${body}\n}`, "agent.conf").health_checks);
}

describe("readHealthChecksBlock", () => {
  it("returns SPIRE's defaults without the block", () => {
    expect(readHealthChecksBlock(undefined)).toEqual({
      listenerEnabled: false,
      bindAddress: "localhost",
      bindPort: 80,
      livePath: "/live",
      readyPath: "/ready",
    });
  });

  it("reads every setting", () => {
    const config = read('listener_enabled = true\nbind_address = "127.0.0.1"\nbind_port = "8080"\nlive_path = "/healthz"\nready_path = "/readyz"');

    expect(config).toEqual({ listenerEnabled: true, bindAddress: "127.0.0.1", bindPort: 8080, livePath: "/healthz", readyPath: "/readyz" });
  });

  it("accepts the port as a number", () => {
    expect(read("bind_port = 8080").bindPort).toBe(8080);
  });

  it("treats empty strings as unset, as SPIRE does", () => {
    const config = read('listener_enabled = true\nbind_address = ""\nbind_port = ""\nlive_path = ""');

    expect(config).toMatchObject({ bindAddress: "localhost", bindPort: 80, livePath: "/live" });
  });

  it("rejects a port out of range", () => {
    expect(() => read('bind_port = "65536"')).toThrow("health_checks.bind_port must be between 0 and 65535, got 65536");
  });

  it("rejects a path without a leading slash", () => {
    expect(() => read('ready_path = "ready"')).toThrow('health_checks.ready_path must start with "/", got "ready"');
  });

  it("rejects the same path for both checks", () => {
    expect(() => read('live_path = "/health"\nready_path = "/health"')).toThrow("health_checks.live_path and health_checks.ready_path must differ");
  });

  it("rejects an unknown setting", () => {
    expect(() => read("listener = true")).toThrow("unknown option health_checks.listener");
  });
});
