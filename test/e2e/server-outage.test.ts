/**
 * End to end: tessera-server killed with SIGKILL while tessera-agent syncs every second.
 * The agent keeps serving its cached SVIDs and reports itself degraded, then resumes
 * syncing when the server comes back on the same port and datastore. A workload SVID that
 * expires during the outage is taken away from the workload, never served expired.
 */
import { X509Certificate } from "node:crypto";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

import { credentials, status as Status } from "@grpc/grpc-js";
import type { ServiceError } from "@grpc/grpc-js";
import { afterAll, afterEach, describe, expect, it } from "vitest";

import { workloadApiMetadata } from "../../src/agent/cli/api-client.js";
import { freePort, prepareAgentAttestation, startAgent, startServer } from "../../src/devtools/local-deployment.js";
import type { RunningAgent, RunningServer } from "../../src/devtools/local-deployment.js";
import { WorkloadApiClient } from "../../src/proto/index.js";
import type { workload } from "../../src/proto/index.js";
import { fetchJwtSvid, fetchX509Svids, killDaemon, pollFor, runAgentCli } from "./restart-support.js";

const trustDomain = "outage.tessera.test";
const nodeId = `spiffe://${trustDomain}/e2e/node`;
const workloadId = `spiffe://${trustDomain}/e2e/workload`;
const lateId = `spiffe://${trustDomain}/e2e/created-after-restart`;
const uid = process.getuid?.() ?? 0;

describe("server outage", () => {
  let folder: string | undefined;
  let server: RunningServer | undefined;
  let agent: RunningAgent | undefined;

  afterAll(async () => {
    await agent?.stop();
    await server?.stop();
    if (folder !== undefined) rmSync(folder, { recursive: true, force: true });
  });

  it("keeps serving while the server is down and syncs after its restart", async () => {
    folder = mkdtempSync(join(tmpdir(), "tessera-server-outage-"));
    const serverPort = await freePort();
    server = await startServer({ folder, trustDomain, port: serverPort });
    const bundlePath = join(folder, "bundle.pem");
    const { joinToken } = await prepareAgentAttestation(server, nodeId, bundlePath);
    await server.cli(["entry", "create", "-parentID", nodeId, "-spiffeID", workloadId, "-selector", `unix:uid:${uid}`]);
    agent = await startAgent({
      folder,
      trustDomain,
      serverPort,
      trustBundlePath: bundlePath,
      joinToken,
      extraAgentConfig: ["experimental {", '  sync_interval = "1s"', "}"],
    });
    const socketPath = agent.socketPath;
    const before = await pollFor("the workload SVID", async () => (await fetchX509Svids(socketPath))?.find((svid) => svid.spiffe_id === workloadId));
    const token = await fetchJwtSvid(socketPath, "outage-test");
    expect(token).toBeDefined();
    expect((await runAgentCli(["healthcheck", "-socketPath", socketPath])).stdout).toBe("Agent is healthy.\n");

    await killDaemon(server);

    const degraded = await pollFor("the agent to report a degraded state", async () => {
      const result = await runAgentCli(["healthcheck", "-socketPath", socketPath]);
      return result.stdout.startsWith("Agent is degraded") ? result : undefined;
    });
    expect(degraded.code).toBe(0);
    expect(degraded.stdout).toContain("server unreachable since");
    const whileDown = await fetchX509Svids(socketPath);
    expect(whileDown?.find((svid) => svid.spiffe_id === workloadId)?.x509_svid).toBe(before.x509_svid);
    expect(await fetchJwtSvid(socketPath, "outage-test")).toBe(token);

    server = await startServer({ folder, trustDomain, port: serverPort });
    await server.cli(["entry", "create", "-parentID", nodeId, "-spiffeID", lateId, "-selector", `unix:uid:${uid}`]);

    const afterRestart = await pollFor("the entry created after the restart to reach the workload", async () => {
      const svids = await fetchX509Svids(socketPath);
      return svids?.some((svid) => svid.spiffe_id === lateId) === true ? svids : undefined;
    });
    expect(afterRestart.map((svid) => svid.spiffe_id).sort()).toEqual([lateId, workloadId].sort());
    const healthy = await pollFor("the agent to report healthy", async () => {
      const result = await runAgentCli(["healthcheck", "-socketPath", socketPath]);
      return result.stdout === "Agent is healthy.\n" ? result : undefined;
    });
    expect(healthy.code).toBe(0);
  });
});

describe("SVID expiry during a server outage", () => {
  const cleanups: Array<() => Promise<void> | void> = [];
  afterEach(async () => {
    for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
  });

  it("ends the workload stream instead of serving an expired SVID", { timeout: 120_000 }, async () => {
    const folder = mkdtempSync(join(tmpdir(), "tessera-outage-expiry-"));
    cleanups.push(() => rmSync(folder, { recursive: true, force: true }));
    // Workload SVIDs live 12 s; the agent SVID lives an hour, so only the workload SVID expires.
    const server = await startServer({ folder, trustDomain, defaultX509SvidTtl: "12s", agentTtl: "1h" });
    cleanups.push(async () => void (await server.stop()));
    const bundlePath = join(folder, "bundle.pem");
    const { joinToken } = await prepareAgentAttestation(server, nodeId, bundlePath);
    await server.cli(["entry", "create", "-parentID", nodeId, "-spiffeID", workloadId, "-selector", `unix:uid:${uid}`]);
    const agent = await startAgent({
      folder,
      trustDomain,
      serverPort: server.port,
      trustBundlePath: bundlePath,
      joinToken,
      extraAgentConfig: ["experimental {", '  sync_interval = "1s"', "}"],
    });
    cleanups.push(async () => void (await agent.stop()));
    await pollFor("the workload SVID", async () => (await fetchX509Svids(agent.socketPath))?.find((svid) => svid.spiffe_id === workloadId));

    const client = new WorkloadApiClient(`unix://${agent.socketPath}`, credentials.createInsecure());
    cleanups.push(() => client.close());
    const stream = client.FetchX509SVID({}, workloadApiMetadata());
    const received: Array<{ atMs: number; notAfterMs: number[] }> = [];
    const ended = new Promise<ServiceError>((resolveEnd) => stream.on("error", resolveEnd));
    stream.on("data", (response: workload.X509SVIDResponse__Output) => {
      const notAfterMs = response.svids.map((svid) => Date.parse(new X509Certificate(svid.x509_svid).validTo));
      received.push({ atMs: Date.now(), notAfterMs });
    });
    await pollFor("the first stream message", async () => received[0]);

    await killDaemon(server);
    const lastNotAfterMs = Math.max(...received.flatMap((message) => message.notAfterMs));
    const end = await ended;

    expect(end.code).toBe(Status.PERMISSION_DENIED);
    expect(end.details).toBe("no identity issued");
    expect(Date.now()).toBeGreaterThanOrEqual(lastNotAfterMs);
    for (const message of received) {
      for (const notAfterMs of message.notAfterMs) {
        expect(notAfterMs).toBeGreaterThan(message.atMs);
      }
    }
    expect(await fetchX509Svids(agent.socketPath, "2s")).toBeUndefined();
    const health = await runAgentCli(["healthcheck", "-socketPath", agent.socketPath]);
    expect(health.stdout).toMatch(/^Agent is degraded: server unreachable since/);
  });
});
