/**
 * End to end: tessera-agent restarted while tessera-server is down (killed with SIGKILL)
 * serves the SVIDs it held before from its runtime cache, and an agent whose runtime
 * cache file is damaged still starts and syncs once the server is back.
 */
import { mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";

import { afterEach, describe, expect, it } from "vitest";

import { freePort, prepareAgentAttestation, readLogLines, startServer, writeAgentFiles } from "../../src/devtools/local-deployment.js";
import type { AgentFiles, RunningServer } from "../../src/devtools/local-deployment.js";
import { runtimeCacheFilePath } from "../../src/agent/storage/runtime-dir.js";
import type { AgentProcess } from "./restart-support.js";
import { fetchX509Svids, killDaemon, launchAgent, makeRuntimeDir, pollFor, runAgentCli } from "./restart-support.js";

const trustDomain = "restart.tessera.test";
const nodeId = `spiffe://${trustDomain}/e2e/node`;
const workloadId = `spiffe://${trustDomain}/e2e/workload`;
const uid = process.getuid?.() ?? 0;

interface Deployment {
  folder: string;
  runtimeDir: string;
  serverPort: number;
  server: RunningServer;
  files: AgentFiles;
}

describe("agent restart while the server is down", () => {
  const cleanups: Array<() => Promise<void> | void> = [];
  afterEach(async () => {
    for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
  });

  function track(agent: AgentProcess): AgentProcess {
    cleanups.push(async () => void (await agent.stop()));
    return agent;
  }

  async function deploy(): Promise<Deployment> {
    const folder = mkdtempSync(join(tmpdir(), "tessera-restart-offline-"));
    const runtimeDir = makeRuntimeDir();
    cleanups.push(() => {
      rmSync(folder, { recursive: true, force: true });
      rmSync(dirname(runtimeDir), { recursive: true, force: true });
    });

    const serverPort = await freePort();
    const server = await startServer({ folder, trustDomain, port: serverPort });
    cleanups.push(async () => void (await deployment.server.stop()));
    const bundlePath = join(folder, "bundle.pem");
    const { joinToken } = await prepareAgentAttestation(server, nodeId, bundlePath);
    await server.cli(["entry", "create", "-parentID", nodeId, "-spiffeID", workloadId, "-selector", `unix:uid:${uid}`]);

    const files = writeAgentFiles({
      folder,
      trustDomain,
      serverPort,
      trustBundlePath: bundlePath,
      joinToken,
      diskKeyManagerDirectory: join(folder, "agent", "keys"),
      extraAgentConfig: [`runtime_dir = "${runtimeDir}"`, "experimental {", '  sync_interval = "1s"', "}"],
    });
    const deployment: Deployment = { folder, runtimeDir, serverPort, server, files };
    return deployment;
  }

  async function fetchWorkloadSvid(agent: AgentProcess): Promise<string> {
    const svids = await pollFor("an X.509-SVID from the agent", async () => {
      const fetched = await fetchX509Svids(agent.socketPath);
      return fetched !== undefined && fetched.length > 0 ? fetched : undefined;
    });
    expect(svids.map((svid) => svid.spiffe_id)).toEqual([workloadId]);
    return svids[0]!.x509_svid;
  }

  it("serves the same SVID after a restart without the server", async () => {
    const deployment = await deploy();
    const first = track(launchAgent(deployment.files));
    const before = await fetchWorkloadSvid(first);

    await killDaemon(deployment.server);
    expect(await first.stop()).toBe(0);

    const cacheFile = runtimeCacheFilePath(deployment.runtimeDir, join(deployment.folder, "agent", "data"));
    expect(statSync(cacheFile).mode & 0o777).toBe(0o600);
    expect(statSync(deployment.runtimeDir).mode & 0o777).toBe(0o700);

    const restarted = track(launchAgent({ ...deployment.files, logPath: join(deployment.folder, "agent", "restarted.log") }));
    const after = await fetchWorkloadSvid(restarted);
    const elapsedMs = performance.now() - restarted.startedAt;
    console.log(`restart-offline: ${Math.round(elapsedMs)} ms from agent start to the first served X.509-SVID, server down`);

    expect(after).toBe(before);
    const restoredLine = readLogLines(restarted.logPath).find((line) => line.msg === "Restored SVIDs from the runtime cache");
    // The node alias entry that `token generate -spiffeID` creates has an SVID too.
    expect(restoredLine?.x509_svids).toBeGreaterThanOrEqual(1);
    expect(readLogLines(restarted.logPath).some((line) => line.msg === "Node attestation was successful")).toBe(false);

    const health = await pollFor("the agent to report a degraded state", async () => {
      const result = await runAgentCli(["healthcheck", "-socketPath", restarted.socketPath]);
      return result.stdout.includes("degraded") ? result : undefined;
    });
    expect(health.code).toBe(0);
    expect(health.stdout).toMatch(/^Agent is degraded: server unreachable since \d{4}-\d\d-\d\dT[\d:.]+Z \(\d+ failed syncs?\)/);
  });

  it("starts with a damaged runtime cache and syncs once the server is back", async () => {
    const deployment = await deploy();
    const first = track(launchAgent(deployment.files));
    await fetchWorkloadSvid(first);
    await killDaemon(deployment.server);
    expect(await first.stop()).toBe(0);

    const cacheFile = runtimeCacheFilePath(deployment.runtimeDir, join(deployment.folder, "agent", "data"));
    const text = readFileSync(cacheFile, "utf8");
    writeFileSync(cacheFile, text.slice(0, Math.floor(text.length / 2)));

    const restarted = track(launchAgent({ ...deployment.files, logPath: join(deployment.folder, "agent", "restarted.log") }));
    await pollFor("the warning about the damaged file", async () =>
      readLogLines(restarted.logPath).find((line) => line.msg === "Ignored a damaged runtime cache file; it is replaced on the next write"),
    );
    expect(restarted.child.exitCode).toBeNull();

    deployment.server = await startServer({ folder: deployment.folder, trustDomain, port: deployment.serverPort });
    await fetchWorkloadSvid(restarted);
    const health = await runAgentCli(["healthcheck", "-socketPath", restarted.socketPath]);
    expect(health.stdout).toBe("Agent is healthy.\n");
  });
});
