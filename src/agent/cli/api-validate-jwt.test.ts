import { afterEach, describe, expect, it } from "vitest";
import { startTestJwtEndpoint, testJwtKeys } from "../../workload-api/test-jwt-endpoint.js";
import type { TestJwtEndpoint } from "../../workload-api/test-jwt-endpoint.js";
import { signTestJwt } from "../../workload-api/test-jwt-keys.js";
import { run } from "./api-validate-jwt.js";
import { captureIo } from "./cli-test-support.js";

let endpoint: TestJwtEndpoint | undefined;

afterEach(async () => {
  await endpoint?.stop();
  endpoint = undefined;
});

function token(aud: string[]): string {
  return signTestJwt(testJwtKeys().own, { sub: "spiffe://example.org/web", aud, exp: Math.floor(Date.now() / 1000) + 300 });
}

describe("api validate jwt", () => {
  it("prints the SPIFFE ID and claims", async () => {
    endpoint = await startTestJwtEndpoint();
    const captured = captureIo();
    const svid = token(["api"]);

    const exitCode = await run(["-socketPath", endpoint.socketPath, "-audience", "api", "-svid", svid], captured.io);

    expect(captured.stderr()).toBe("");
    expect(exitCode).toBe(0);
    const lines = captured.stdout().split("\n");
    expect(lines[0]).toBe("SVID is valid.");
    expect(lines[1]).toBe("SPIFFE ID : spiffe://example.org/web");
    expect(lines[2]!.startsWith("Claims    : ")).toBe(true);
    const claims = JSON.parse(lines[2]!.slice("Claims    : ".length)) as Record<string, unknown>;
    expect(claims.sub).toBe("spiffe://example.org/web");
    expect(claims.aud).toEqual(["api"]);
  });

  it("explains a wrong audience", async () => {
    endpoint = await startTestJwtEndpoint();
    const captured = captureIo();

    const exitCode = await run(["-socketPath", endpoint.socketPath, "-audience", "db", "-svid", token(["api"])], captured.io);

    expect(exitCode).toBe(1);
    expect(captured.stderr()).toBe(
      'SVID is not valid: expected audience "db", but the token is for ["api"]: the token was issued for another audience, so fetch one for "db"\n',
    );
  });

  it("reports an invalid token", async () => {
    endpoint = await startTestJwtEndpoint();
    const captured = captureIo();

    const exitCode = await run(["-socketPath", endpoint.socketPath, "-audience", "api", "-svid", "not-a-token"], captured.io);

    expect(exitCode).toBe(1);
    expect(captured.stderr()).toMatch(/^SVID is not valid: the token is not in JWS compact serialization/);
  });

  it("requires -svid", async () => {
    const captured = captureIo();

    expect(await run(["-audience", "api"], captured.io)).toBe(1);
    expect(captured.stderr()).toBe("svid must be specified: pass the token with -svid\n");
  });

  it("explains a missing agent", async () => {
    const captured = captureIo();

    expect(await run(["-socketPath", "/nonexistent/api.sock", "-audience", "api", "-svid", "x"], captured.io)).toBe(1);
    expect(captured.stderr()).toBe("no agent is listening on /nonexistent/api.sock: start tessera-agent or pass -socketPath\n");
  });
});
