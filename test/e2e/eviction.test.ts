/**
 * End to end: what a join_token agent does when the server evicts or bans it. A join
 * token works once, so the agent cannot attest again by itself: it removes its SVID,
 * closes the Workload API socket and exits non-zero with what the operator must do.
 */
import { execFile } from "node:child_process";
import { existsSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import { afterAll, beforeAll, describe, expect, it } from "vitest";

import { agentBin, prepareAgentAttestation, readLogLines, startAgent, startServer, waitForLogFileLine } from "../../src/devtools/local-deployment.js";
import type { RunningAgent, RunningServer } from "../../src/devtools/local-deployment.js";

const execFileAsync = promisify(execFile);

const trustDomain = "eviction.tessera.test";
const uid = process.getuid?.() ?? 0;

describe("join_token agent rejected by the server", () => {
  let folder: string;
  let server: RunningServer;
  const agents: RunningAgent[] = [];

  beforeAll(async () => {
    folder = mkdtempSync(join(tmpdir(), "tessera-e2e-eviction-"));
    server = await startServer({ folder, trustDomain });
  });

  afterAll(async () => {
    for (const agent of agents) await agent.stop();
    await server?.stop();
    if (folder) rmSync(folder, { recursive: true, force: true });
  });

  /** Starts an agent with a new join token and a workload entry; returns it with its agent ID. */
  async function startJoinTokenAgent(name: string): Promise<{ agent: RunningAgent; agentId: string; stateFile: string }> {
    const nodeId = `spiffe://${trustDomain}/node/${name}`;
    const bundlePath = join(folder, `${name}-bundle.pem`);
    const { joinToken } = await prepareAgentAttestation(server, nodeId, bundlePath);
    await server.cli(["entry", "create", "-parentID", nodeId, "-spiffeID", `spiffe://${trustDomain}/workload/${name}`, "-selector", `unix:uid:${uid}`]);

    const agentFolder = join(folder, name);
    const agent = await startAgent({
      folder: agentFolder,
      trustDomain,
      serverPort: server.port,
      trustBundlePath: bundlePath,
      joinToken,
      extraAgentConfig: ["experimental {", '  sync_interval = "1s"', "}"],
    });
    agents.push(agent);

    const { stdout } = await execFileAsync(process.execPath, [agentBin, "api", "fetch", "x509", "-socketPath", agent.socketPath]);
    expect(stdout).toContain(`spiffe://${trustDomain}/workload/${name}`);
    return { agent, agentId: `spiffe://${trustDomain}/spire/agent/join_token/${joinToken}`, stateFile: join(agentFolder, "agent", "data", "agent-data.json") };
  }

  async function waitForExit(agent: RunningAgent): Promise<number | null> {
    if (agent.process.exitCode === null && agent.process.signalCode === null) {
      await new Promise((exited) => agent.process.once("exit", exited));
    }
    return agent.stop();
  }

  /** Tells whether agent-data.json still contains an SVID. A missing file contains none. */
  function storesSvid(stateFile: string): boolean {
    if (!existsSync(stateFile)) return false;
    const state = JSON.parse(readFileSync(stateFile, "utf8")) as { svid?: unknown[] };
    return (state.svid?.length ?? 0) > 0;
  }

  it("exits after eviction and asks for a new token", async () => {
    const { agent, agentId, stateFile } = await startJoinTokenAgent("evicted");
    expect(storesSvid(stateFile)).toBe(true);

    await server.cli(["agent", "evict", "-spiffeID", agentId]);

    expect(await waitForExit(agent)).toBe(1);
    const lines = readLogLines(agent.logPath);
    const rejected = lines.find((line) => line.msg === "Agent must attest again with a new join token: removing SVID and shutting down");
    expect(rejected?.reason).toBe("AGENT_NOT_ATTESTED");
    expect(rejected?.spiffe_id).toBe(agentId);
    const failed = lines.find((line) => line.msg === "Agent failed");
    expect(String(failed?.error)).toContain("start the agent with a new join token");
    expect(lines.some((line) => line.msg === "Agent reattested")).toBe(false);
    expect(storesSvid(stateFile)).toBe(false);
    expect(existsSync(agent.socketPath)).toBe(false);
  });

  it("exits when banned", async () => {
    const { agent, agentId, stateFile } = await startJoinTokenAgent("banned");

    await server.cli(["agent", "ban", "-spiffeID", agentId]);

    expect(await waitForExit(agent)).toBe(1);
    const banned = await waitForLogFileLine(agent.logPath, (line) => line.msg === "Agent is banned: removing SVID and shutting down", 1000);
    expect(banned.reason).toBe("AGENT_BANNED");
    expect(banned.spiffe_id).toBe(agentId);
    expect(storesSvid(stateFile)).toBe(false);
    expect(existsSync(agent.socketPath)).toBe(false);
  });
});
