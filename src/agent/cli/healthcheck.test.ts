import { execFileSync } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { pino } from "pino";
import { HealthClient } from "../../proto/index.js";
import { credentials, status } from "@grpc/grpc-js";
import type { ServiceError } from "@grpc/grpc-js";
import { SERVER_HEALTH_SERVICE } from "../../workload-api/health-service.js";
import { captureLogger } from "../../workload-api/test-logger.js";
import { createServerReachability, serverReachabilityHealthCheck } from "../manager/server-reachability.js";
import type { ServerReachabilityRecorder } from "../manager/server-reachability.js";
import { startWorkloadEndpoint } from "../../workload-api/workload-endpoint.js";
import type { WorkloadEndpoint } from "../../workload-api/workload-endpoint.js";
import { createTestIdentitySource } from "../../workload-api/test-identity-source.js";
import { captureIo } from "./cli-test-support.js";
import { run } from "./healthcheck.js";

let folder: string;
let socketPath: string;
let endpoint: WorkloadEndpoint | undefined;

beforeEach(() => {
  folder = mkdtempSync(join(tmpdir(), "tessera-healthcheck-"));
  socketPath = join(folder, "api.sock");
});

afterEach(async () => {
  await endpoint?.close();
  endpoint = undefined;
  rmSync(folder, { recursive: true, force: true });
});

async function startAgentEndpoint(bundle: Buffer[], reachability?: ServerReachabilityRecorder): Promise<void> {
  const identities = createTestIdentitySource({
    trustDomain: "example.org",
    bundle,
    federatedBundles: new Map(),
    entries: [],
  });
  endpoint = await startWorkloadEndpoint({
    socketPath,
    identitySource: identities.source,
    attestors: [],
    logger: captureLogger().logger,
    healthChecks: reachability === undefined ? undefined : new Map([[SERVER_HEALTH_SERVICE, serverReachabilityHealthCheck(reachability)]]),
  });
}

describe("healthcheck", () => {
  it("exits 0 when the agent is serving", async () => {
    await startAgentEndpoint([Buffer.from("a root certificate")]);
    const captured = captureIo();

    const exitCode = await run(["-socketPath", socketPath], captured.io);

    expect(exitCode).toBe(0);
    expect(captured.stdout()).toBe("Agent is healthy.\n");
  });

  it("exits 1 when the agent is not serving", async () => {
    await startAgentEndpoint([]);
    const captured = captureIo();

    const exitCode = await run(["-socketPath", socketPath, "-verbose"], captured.io);

    expect(exitCode).toBe(1);
    expect(captured.stdout()).toBe(`Checking agent health on ${socketPath}...\n`);
    expect(captured.stderr()).toMatch(/^Agent is unhealthy: the agent reports NOT_SERVING/);
  });

  it("exits 1 without an agent", async () => {
    const captured = captureIo();

    const exitCode = await run(["-socketPath", socketPath], captured.io);

    expect(exitCode).toBe(1);
    expect(captured.stderr()).toBe(
      `Agent is unhealthy: no agent is listening on ${socketPath}: start tessera-agent or pass -socketPath\n`,
    );
  });

  it("exits 1 when the socket has no listener", async () => {
    const stale = join(folder, "stale.sock");
    // A socket bound by a process that has exited stays on disk and refuses connections.
    execFileSync("python3", ["-c", "import socket, sys; socket.socket(socket.AF_UNIX).bind(sys.argv[1])", stale]);
    const captured = captureIo();

    const exitCode = await run(["-socketPath", stale], captured.io);

    expect(exitCode).toBe(1);
    expect(captured.stderr()).toBe(
      `Agent is unhealthy: no agent is listening on ${stale}: start tessera-agent or pass -socketPath\n`,
    );
  });

  it("reports degraded and exits 0 while the server is unreachable", async () => {
    const reachability = createServerReachability(pino({ level: "silent" }));
    await startAgentEndpoint([Buffer.from("a root certificate")], reachability);
    reachability.recordSuccess(Date.parse("2030-01-01T00:00:00Z"));
    reachability.recordFailure(new Error("connection refused"), Date.parse("2030-01-01T00:01:00Z"));
    reachability.recordFailure(new Error("connection refused"), Date.parse("2030-01-01T00:01:05Z"));
    const captured = captureIo();

    const exitCode = await run(["-socketPath", socketPath], captured.io);

    expect(exitCode).toBe(0);
    expect(captured.stdout()).toBe(
      "Agent is degraded: server unreachable since 2030-01-01T00:01:00.000Z (2 failed syncs); cached SVIDs are still served until they expire.\n",
    );
  });

  it("counts one failed sync", async () => {
    const reachability = createServerReachability(pino({ level: "silent" }));
    await startAgentEndpoint([Buffer.from("a root certificate")], reachability);
    reachability.recordFailure(new Error("connection refused"), Date.parse("2030-01-01T00:01:00Z"));
    const captured = captureIo();

    await run(["-socketPath", socketPath], captured.io);

    expect(captured.stdout()).toBe(
      "Agent is degraded: server unreachable since 2030-01-01T00:01:00.000Z (1 failed sync); cached SVIDs are still served until they expire.\n",
    );
  });

  it("reports healthy again once the server is back", async () => {
    const reachability = createServerReachability(pino({ level: "silent" }));
    await startAgentEndpoint([Buffer.from("a root certificate")], reachability);
    reachability.recordFailure(new Error("connection refused"));
    reachability.recordSuccess();
    const captured = captureIo();

    const exitCode = await run(["-socketPath", socketPath], captured.io);

    expect(exitCode).toBe(0);
    expect(captured.stdout()).toBe("Agent is healthy.\n");
  });

  it("returns NotFound for an unknown service", async () => {
    await startAgentEndpoint([Buffer.from("a root certificate")]);
    const client = new HealthClient(`unix://${socketPath}`, credentials.createInsecure());

    const error = await new Promise<ServiceError | null>((resolve) => {
      client.Check({ service: "no.such.service" }, (callError: ServiceError | null) => resolve(callError));
    });
    client.close();

    expect(error?.code).toBe(status.NOT_FOUND);
    expect(error?.details).toContain('known services: ""');
  });
});
