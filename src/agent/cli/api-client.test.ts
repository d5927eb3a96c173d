import { join } from "node:path";
import { status as Status } from "@grpc/grpc-js";
import type { ServiceError } from "@grpc/grpc-js";
import { describe, expect, it } from "vitest";
import { DEFAULT_SOCKET_PATH, explainCallError, resolveSocketPath } from "./api-client.js";

function callError(code: Status, details: string): ServiceError {
  return Object.assign(new Error(details), { code, details, metadata: undefined as never });
}

describe("resolveSocketPath", () => {
  it("makes a relative -socketPath absolute", () => {
    expect(resolveSocketPath(".demo/agent/public/api.sock", {})).toBe(join(process.cwd(), ".demo/agent/public/api.sock"));
  });

  it("accepts a unix: address as -socketPath", () => {
    expect(resolveSocketPath("unix:///run/flag.sock", {})).toBe("/run/flag.sock");
  });

  it("prefers the flag", () => {
    expect(resolveSocketPath("/run/flag.sock", { SPIFFE_ENDPOINT_SOCKET: "unix:///run/env.sock" })).toBe("/run/flag.sock");
  });

  it.each([
    ["unix:///run/spire/api.sock", "/run/spire/api.sock"],
    ["unix:/run/spire/api.sock", "/run/spire/api.sock"],
    ["unix:///run/with%20space.sock", "/run/with space.sock"],
  ])("reads SPIFFE_ENDPOINT_SOCKET %s", (value, expected) => {
    expect(resolveSocketPath(undefined, { SPIFFE_ENDPOINT_SOCKET: value })).toBe(expected);
  });

  it("falls back to the default", () => {
    expect(resolveSocketPath(undefined, {})).toBe(DEFAULT_SOCKET_PATH);
  });

  it.each([
    ["tcp://127.0.0.1:8000", /TCP address, which tessera-agent does not serve/],
    ["unix://host/run/api.sock", /has an authority/],
    ["unix:relative.sock", /absolute socket path/],
    ["unix:///run/api.sock?x=1", /query or fragment/],
    ["/run/api.sock", /not a URI/],
    ["http://localhost/api.sock", /has scheme "http:"/],
  ])("rejects SPIFFE_ENDPOINT_SOCKET %s", (value, message) => {
    expect(() => resolveSocketPath(undefined, { SPIFFE_ENDPOINT_SOCKET: value })).toThrow(message);
  });
});

describe("explainCallError", () => {
  it("explains a refused connection", () => {
    const message = explainCallError(callError(Status.UNAVAILABLE, "No connection established. Last error: connect ECONNREFUSED /x.sock"), "/x.sock", 5000);

    expect(message).toBe("no agent is listening on /x.sock: start tessera-agent or pass -socketPath");
  });

  it("explains a missing socket file", () => {
    const message = explainCallError(callError(Status.UNAVAILABLE, "No connection established. Last error: Error: connect ENOENT /x.sock. Resolution note: "), "/x.sock", 5000);

    expect(message).toBe("no agent is listening on /x.sock: start tessera-agent or pass -socketPath");
  });

  it("explains a socket without permission", () => {
    const message = explainCallError(callError(Status.UNAVAILABLE, "No connection established. Last error: connect EACCES /x.sock"), "/x.sock", 5000);

    expect(message).toBe("permission denied on /x.sock: run as a user that may open the agent socket");
  });

  it("explains an unreachable server", () => {
    const details = "failed to mint JWT-SVID: the server is unreachable: No connection established. Last error: connect ECONNREFUSED 127.0.0.1:8081";

    const message = explainCallError(callError(Status.UNAVAILABLE, details), "/x.sock", 5000);

    expect(message).toMatch(/^the agent at \/x.sock cannot reach tessera-server/);
    expect(message).toContain(details);
    expect(message).not.toMatch(/no agent is listening/);
  });

  it("passes other agent statuses through", () => {
    const message = explainCallError(callError(Status.UNAVAILABLE, "failed to mint JWT-SVID: connect ECONNREFUSED 127.0.0.1:8081"), "/x.sock", 5000);

    expect(message).toBe("the agent at /x.sock is unavailable: failed to mint JWT-SVID: connect ECONNREFUSED 127.0.0.1:8081");
  });

  it("explains a missing identity", () => {
    const message = explainCallError(callError(Status.PERMISSION_DENIED, "no identity issued"), "/x.sock", 5000);

    expect(message).toMatch(/^no identity issued for this process: create a registration entry whose selectors match it/);
  });

  it("names the timeout", () => {
    const message = explainCallError(callError(Status.DEADLINE_EXCEEDED, "Deadline exceeded"), "/x.sock", 1500);

    expect(message).toMatch(/^timed out after 1.5s waiting for the agent at \/x.sock/);
  });
});
