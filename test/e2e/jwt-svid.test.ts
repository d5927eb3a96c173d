/**
 * End to end: a JWT-SVID round trip from an independent Python grpcio client through
 * tessera-agent and tessera-server running as real processes.
 */
import { execFile } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { prepareAgentAttestation, repositoryRoot, startAgent, startServer } from "../../src/devtools/local-deployment.js";
import type { RunningAgent, RunningServer } from "../../src/devtools/local-deployment.js";
import { generatePythonStubs, pythonGrpcAvailable } from "./python-stubs.js";

const execFileAsync = promisify(execFile);
const trustDomain = "jwt.tessera.test";
const nodeId = `spiffe://${trustDomain}/node`;
const workloadId = `spiffe://${trustDomain}/jwt-client`;
const hasPython = pythonGrpcAvailable(["jwt", "cryptography"]);

if (!hasPython) console.warn("JWT-SVID round trip: /usr/bin/python3 with grpcio, protobuf and PyJWT, or protoc, is missing (make system-deps); skipped");

interface RoundTrip {
  spiffe_id: string;
  aud_claim: string | string[];
  validated_spiffe_id: string;
  validated_claims: Record<string, unknown>;
  local_sub: string;
  other_audience: string;
}

describe.skipIf(!hasPython)("JWT-SVID round trip", () => {
  let folder: string;
  let server: RunningServer;
  let agent: RunningAgent;
  let roundTrip: RoundTrip;

  beforeAll(async () => {
    folder = mkdtempSync(join(tmpdir(), "tessera-jwt-"));
    server = await startServer({ folder, trustDomain });
    const bundlePath = join(folder, "bundle.pem");
    const { joinToken } = await prepareAgentAttestation(server, nodeId, bundlePath);
    await server.cli(["entry", "create", "-parentID", nodeId, "-spiffeID", workloadId, "-selector", `unix:uid:${process.getuid?.() ?? 0}`]);
    agent = await startAgent({ folder, trustDomain, serverPort: server.port, trustBundlePath: bundlePath, joinToken });

    const stubs = generatePythonStubs(join(folder, "python-stubs"));
    const script = join(repositoryRoot, "test", "e2e", "clients", "jwt_round_trip.py");
    const { stdout } = await execFileAsync("/usr/bin/python3", [script, stubs, agent.socketPath, "tessera-e2e", "someone-else"]);
    roundTrip = JSON.parse(stdout) as RoundTrip;
  });

  afterAll(async () => {
    await agent?.stop();
    await server?.stop();
    if (folder) rmSync(folder, { recursive: true, force: true });
  });

  it("fetches a JWT-SVID for the caller", () => {
    expect(roundTrip.spiffe_id).toBe(workloadId);
  });

  it("validates it through ValidateJWTSVID", () => {
    expect(roundTrip.validated_spiffe_id).toBe(workloadId);
    expect(roundTrip.validated_claims.sub).toBe(workloadId);
  });

  it("validates it locally against the JWT bundle", () => {
    expect(roundTrip.local_sub).toBe(workloadId);
  });

  it("accepts a single audience as a string aud", () => {
    expect(roundTrip.aud_claim).toBe("tessera-e2e");
    expect(roundTrip.validated_claims.aud).toEqual(["tessera-e2e"]);
  });

  it("rejects the token for another audience", () => {
    expect(roundTrip.other_audience).toBe("INVALID_ARGUMENT");
  });
});
