/**
 * End to end: tessera-agent attesting with NodeAttestor "x509pop" to tessera-server, both
 * real processes, with a CA and node certificates made by the openssl command line. The
 * agent attests again in place after an eviction and at every agent SVID rotation, and
 * shuts down when banned.
 */
import { execFile } from "node:child_process";
import { createHash } from "node:crypto";
import { existsSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import { afterAll, beforeAll, describe, expect, it } from "vitest";

import { createOpensslCa, issueOpensslLeaf } from "../../plugins/nodeattestor/x509pop/test-openssl-pki.js";
import type { OpensslCredential } from "../../plugins/nodeattestor/x509pop/test-openssl-pki.js";
import { agentBin, readLogLines, startAgent, startServer, waitForLogFileLine } from "../../src/devtools/local-deployment.js";
import type { RunningAgent, RunningServer } from "../../src/devtools/local-deployment.js";

const execFileAsync = promisify(execFile);

const trustDomain = "x509pop.tessera.test";
const uid = process.getuid?.() ?? 0;

describe("x509pop node attestation", () => {
  let folder: string;
  let server: RunningServer;
  let shortTtlServer: RunningServer;
  let ca: OpensslCredential;
  const agents: RunningAgent[] = [];

  beforeAll(async () => {
    folder = mkdtempSync(join(tmpdir(), "tessera-e2e-x509pop-"));
    ca = createOpensslCa(folder, "node-ca");
    const extraPlugins = ['NodeAttestor "x509pop" {', "  plugin_data {", `    ca_bundle_path = "${ca.certPath}"`, "  }", "}"];
    server = await startServer({ folder: join(folder, "main"), trustDomain, extraPlugins });
    // An agent SVID of 20 s, backdated 10 s by the CA, is due for rotation about 5 s after
    // it is issued, within one test. The other tests use the hour-long default, so no
    // rotation races with what they check.
    shortTtlServer = await startServer({ folder: join(folder, "short-ttl"), trustDomain, agentTtl: "20s", extraPlugins });
  });

  afterAll(async () => {
    for (const agent of agents) await agent.stop();
    await server?.stop();
    await shortTtlServer?.stop();
    if (folder) rmSync(folder, { recursive: true, force: true });
  });

  /** Issues a node certificate, registers a workload under the node's agent ID, and starts an agent. */
  async function startNode(name: string, nodeServer: RunningServer = server): Promise<{ agent: RunningAgent; agentId: string; workloadId: string }> {
    const leaf = issueOpensslLeaf(folder, name, ca);
    const agentId = `spiffe://${trustDomain}/spire/agent/x509pop/${createHash("sha1").update(leaf.der).digest("hex")}`;
    const workloadId = `spiffe://${trustDomain}/workload/${name}`;
    await nodeServer.cli(["entry", "create", "-parentID", agentId, "-spiffeID", workloadId, "-selector", `unix:uid:${uid}`]);
    const bundlePath = join(folder, `${name}-bundle.pem`);
    writeFileSync(bundlePath, await nodeServer.cli(["bundle", "show"]));

    const agent = await startAgent({
      folder: join(folder, name),
      trustDomain,
      serverPort: nodeServer.port,
      trustBundlePath: bundlePath,
      x509pop: { certificatePath: leaf.certPath, privateKeyPath: leaf.keyPath },
      extraAgentConfig: ["experimental {", '  sync_interval = "1s"', "}"],
    });
    agents.push(agent);
    return { agent, agentId, workloadId };
  }

  async function fetchX509(agent: RunningAgent): Promise<string> {
    const { stdout } = await execFileAsync(process.execPath, [agentBin, "api", "fetch", "x509", "-socketPath", agent.socketPath]);
    return stdout;
  }

  function serialNumberOf(shown: string): string | undefined {
    return /Serial number\s*:\s*(\S+)/.exec(shown)?.[1];
  }

  async function waitForExit(agent: RunningAgent): Promise<number | null> {
    if (agent.process.exitCode === null && agent.process.signalCode === null) {
      await new Promise((exited) => agent.process.once("exit", exited));
    }
    return agent.stop();
  }

  it("attests again in place after eviction", async () => {
    const { agent, agentId, workloadId } = await startNode("evicted-node");
    const attested = await waitForLogFileLine(agent.logPath, (line) => line.msg === "Node attestation was successful");
    expect(attested.spiffe_id).toBe(agentId);
    expect(attested.reattestable).toBe(true);
    expect(await fetchX509(agent)).toContain(workloadId);
    const shown = await server.cli(["agent", "show", "-spiffeID", agentId]);
    expect(shown).toContain("Attestation type  : x509pop");
    expect(shown).toContain("Can re-attest     : true");
    expect(shown).toContain("Selectors         : x509pop:subject:cn:evicted-node");
    const pid = agent.process.pid;

    await server.cli(["agent", "evict", "-spiffeID", agentId]);

    const reattested = await waitForLogFileLine(agent.logPath, (line) => line.msg === "Agent reattested" && line.trigger === "AGENT_NOT_ATTESTED");
    expect(reattested.spiffe_id).toBe(agentId);
    expect(agent.process.exitCode).toBeNull();
    expect(agent.process.pid).toBe(pid);
    expect(await server.cli(["agent", "show", "-spiffeID", agentId])).toContain(agentId);
    expect(await fetchX509(agent)).toContain(workloadId);

    // The sync loop runs again: an entry created after the reattestation reaches the workload.
    const laterId = `spiffe://${trustDomain}/workload/evicted-node-later`;
    await server.cli(["entry", "create", "-parentID", agentId, "-spiffeID", laterId, "-selector", `unix:uid:${uid}`]);
    await expect.poll(() => fetchX509(agent), { timeout: 30_000, interval: 500 }).toContain(laterId);
    expect(readLogLines(agent.logPath).some((line) => line.msg === "Agent failed")).toBe(false);
  });

  it("rotates its SVID by attesting again", async () => {
    const { agent, agentId, workloadId } = await startNode("rotating-node", shortTtlServer);
    await waitForLogFileLine(agent.logPath, (line) => line.msg === "Node attestation was successful");
    const serialBefore = serialNumberOf(await shortTtlServer.cli(["agent", "show", "-spiffeID", agentId]));

    const rotated = await waitForLogFileLine(agent.logPath, (line) => line.msg === "Agent reattested" && line.trigger === "rotation", 40_000);

    expect(rotated.spiffe_id).toBe(agentId);
    expect(rotated.key_id).toBe("agent-svid-B");
    const serialAfter = serialNumberOf(await shortTtlServer.cli(["agent", "show", "-spiffeID", agentId]));
    expect(serialAfter).not.toBe(serialBefore);
    expect(readLogLines(agent.logPath).some((line) => line.msg === "Renewing agent SVID")).toBe(false);
    expect(agent.process.exitCode).toBeNull();
    expect(await fetchX509(agent)).toContain(workloadId);
  });

  it("shuts down when banned", async () => {
    const { agent, agentId } = await startNode("banned-node");
    await waitForLogFileLine(agent.logPath, (line) => line.msg === "Node attestation was successful");
    const stateFile = join(folder, "banned-node", "agent", "data", "agent-data.json");
    expect(existsSync(stateFile)).toBe(true);

    await server.cli(["agent", "ban", "-spiffeID", agentId]);

    expect(await waitForExit(agent)).toBe(1);
    const lines = readLogLines(agent.logPath);
    const banned = lines.find((line) => line.msg === "Agent is banned: removing SVID and shutting down");
    expect(banned?.spiffe_id).toBe(agentId);
    expect(banned?.reason).toBe("AGENT_BANNED");
    expect(lines.some((line) => line.msg === "Agent reattested")).toBe(false);
    expect(String(lines.find((line) => line.msg === "Agent failed")?.error)).toContain(`evict it on the server (tessera-server agent evict -spiffeID ${agentId})`);
    expect(existsSync(stateFile)).toBe(false);
    expect(existsSync(agent.socketPath)).toBe(false);
  });
});
