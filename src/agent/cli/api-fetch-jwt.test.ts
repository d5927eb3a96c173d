import { afterEach, describe, expect, it } from "vitest";
import { OWN_UID_SELECTOR, startTestJwtEndpoint } from "../../workload-api/test-jwt-endpoint.js";
import type { TestJwtEndpoint } from "../../workload-api/test-jwt-endpoint.js";
import { run } from "./api-fetch-jwt.js";
import { captureIo } from "./cli-test-support.js";

let endpoint: TestJwtEndpoint | undefined;

afterEach(async () => {
  await endpoint?.stop();
  endpoint = undefined;
});

async function startWithEntry(): Promise<TestJwtEndpoint> {
  endpoint = await startTestJwtEndpoint({
    entries: [
      { entryId: "entry-1", spiffeId: "spiffe://example.org/web", selectors: [OWN_UID_SELECTOR], federatesWith: ["partner.test"] },
    ],
  });
  return endpoint;
}

function payloadOf(token: string): Record<string, unknown> {
  return JSON.parse(Buffer.from(token.split(".")[1]!, "base64url").toString("utf8")) as Record<string, unknown>;
}

describe("api fetch jwt", () => {
  it("prints tokens then bundles", async () => {
    const target = await startWithEntry();
    const captured = captureIo();

    const exitCode = await run(["-socketPath", target.socketPath, "-audience", "api,db"], captured.io);

    expect(captured.stderr()).toBe("");
    expect(exitCode).toBe(0);
    const lines = captured.stdout().split("\n");
    expect(lines[0]).toBe("token(spiffe://example.org/web):");
    expect(payloadOf(lines[1]!.slice(1)).aud).toEqual(["api", "db"]);
    expect(lines[1]!.startsWith("\t")).toBe(true);
    expect(lines[2]).toBe("bundle(spiffe://example.org):");
    expect(lines[3]).toBe("\t{");
    const partner = lines.indexOf("bundle(spiffe://partner.test):");
    expect(partner).toBeGreaterThan(3);
  });

  it("prints JSON with -output json", async () => {
    const target = await startWithEntry();
    const captured = captureIo();

    const exitCode = await run(["-socketPath", target.socketPath, "-audience", "api", "-output", "json"], captured.io);

    expect(exitCode).toBe(0);
    const [svids, bundles] = JSON.parse(captured.stdout()) as [
      { svids: Array<{ spiffe_id: string; svid: string; hint: string }> },
      { bundles: Record<string, string> },
    ];
    expect(svids.svids[0]!.spiffe_id).toBe("spiffe://example.org/web");
    expect(svids.svids[0]!.hint).toBe("");
    const own = JSON.parse(Buffer.from(bundles.bundles["spiffe://example.org"]!, "base64").toString("utf8")) as {
      keys: unknown[];
    };
    expect(own.keys).toHaveLength(2);
  });

  it("requires an audience", async () => {
    const captured = captureIo();

    expect(await run(["-socketPath", "/nonexistent/api.sock"], captured.io)).toBe(1);
    expect(captured.stderr()).toMatch(/^audience must be specified: pass -audience/);
  });

  it("explains a missing agent", async () => {
    const captured = captureIo();

    expect(await run(["-socketPath", "/nonexistent/api.sock", "-audience", "api"], captured.io)).toBe(1);
    expect(captured.stderr()).toBe("no agent is listening on /nonexistent/api.sock: start tessera-agent or pass -socketPath\n");
  });

  it("explains a missing registration", async () => {
    endpoint = await startTestJwtEndpoint();
    const captured = captureIo();

    const exitCode = await run(["-socketPath", endpoint.socketPath, "-audience", "api"], captured.io);

    expect(exitCode).toBe(1);
    expect(captured.stderr()).toMatch(/^failed to fetch JWT bundles: no identity issued for this process: create a registration entry/);
  });

  it("explains an unknown -spiffeID", async () => {
    const target = await startWithEntry();
    const captured = captureIo();

    const exitCode = await run(
      ["-socketPath", target.socketPath, "-audience", "api", "-spiffeID", "spiffe://example.org/admin"],
      captured.io,
    );

    expect(exitCode).toBe(1);
    expect(captured.stderr()).toMatch(/^failed to fetch JWT-SVIDs: this process has no identity spiffe:\/\/example.org\/admin/);
  });
});
