/**
 * End to end: tessera-agent killed with SIGKILL again and again while it writes data_dir
 * (at start-up and around agent SVID renewals, which a short agent_ttl makes frequent)
 * always starts again from what it stored, without a new join token. A damaged
 * agent-data.json with join_token stops the agent with an error that tells the operator what to do.
 */
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";

import { afterAll, beforeAll, describe, expect, it } from "vitest";

import { createDiskKeyManager } from "../../plugins/keymanager/disk.js";
import { agentStatePath, readAgentState } from "../../src/agent/storage/agent-state.js";
import { freePort, prepareAgentAttestation, readLogLines, startServer, waitForLogFileLine, writeAgentFiles } from "../../src/devtools/local-deployment.js";
import type { AgentFiles, RunningServer } from "../../src/devtools/local-deployment.js";
import type { AgentProcess } from "./restart-support.js";
import { fetchX509Svids, launchAgent, makeRuntimeDir, pollFor } from "./restart-support.js";

const trustDomain = "crash.tessera.test";
const nodeId = `spiffe://${trustDomain}/e2e/node`;
const workloadId = `spiffe://${trustDomain}/e2e/workload`;
const uid = process.getuid?.() ?? 0;

/**
 * How the agent is killed in one round: during start-up (agent-data.json and the runtime
 * cache are written then), right after it starts renewing its SVID (keys.json, the
 * RenewAgent call, then agent-data.json), or right after a renewal was stored. The last
 * kind keeps the stored SVID fresh when an earlier round cut a renewal short.
 */
const KILL_MOMENTS = ["during start-up", "during a renewal", "after a renewal"] as const;
const ROUNDS = 6;

describe("agent crash recovery", () => {
  let folder: string;
  let runtimeDir: string;
  let server: RunningServer;
  let files: AgentFiles;
  const agents: AgentProcess[] = [];

  const dataDir = (): string => join(folder, "agent", "data");
  const keysDir = (): string => join(folder, "agent", "keys");

  function launch(name: string): AgentProcess {
    const agent = launchAgent({ ...files, logPath: join(folder, "agent", `${name}.log`) });
    agents.push(agent);
    return agent;
  }

  async function fetchWorkloadSvid(agent: AgentProcess): Promise<void> {
    await pollFor("the workload SVID", async () => (await fetchX509Svids(agent.socketPath))?.find((svid) => svid.spiffe_id === workloadId));
  }

  beforeAll(async () => {
    folder = mkdtempSync(join(tmpdir(), "tessera-crash-recovery-"));
    runtimeDir = makeRuntimeDir();
    server = await startServer({ folder, trustDomain, port: await freePort(), agentTtl: "40s" });
    const bundlePath = join(folder, "bundle.pem");
    const { joinToken } = await prepareAgentAttestation(server, nodeId, bundlePath);
    await server.cli(["entry", "create", "-parentID", nodeId, "-spiffeID", workloadId, "-selector", `unix:uid:${uid}`]);
    files = writeAgentFiles({
      folder,
      trustDomain,
      serverPort: server.port,
      trustBundlePath: bundlePath,
      joinToken,
      diskKeyManagerDirectory: join(folder, "agent", "keys"),
      extraAgentConfig: [`runtime_dir = "${runtimeDir}"`, "experimental {", '  sync_interval = "1s"', "}"],
    });
  });

  afterAll(async () => {
    for (const agent of agents) await agent.stop();
    await server?.stop();
    if (folder !== undefined) rmSync(folder, { recursive: true, force: true });
    if (runtimeDir !== undefined) rmSync(dirname(runtimeDir), { recursive: true, force: true });
  });

  it("starts again after every kill -9 without a new join token", { timeout: 300_000 }, async () => {
    const first = launch("attest");
    await fetchWorkloadSvid(first);
    await first.stop();

    for (let round = 0; round < ROUNDS; round++) {
      const moment = KILL_MOMENTS[round % KILL_MOMENTS.length]!;
      const agent = launch(`round-${round}`);

      if (moment === "during start-up") {
        await new Promise((wake) => setTimeout(wake, 100 + Math.random() * 700));
      } else {
        const message = moment === "during a renewal" ? "Renewing agent SVID" : "Agent SVID renewed";
        await waitForLogFileLine(agent.logPath, (line) => line.msg === message, 60_000);
        if (moment === "during a renewal") {
          await new Promise((wake) => setTimeout(wake, Math.random() * 25));
        }
      }
      await agent.kill9();

      // What the agent left must read cleanly: a half-written file would fail here.
      expect(readAgentState(dataDir())?.svidChain.length, `agent-data.json after round ${round} (${moment})`).toBeGreaterThan(0);
      expect((await createDiskKeyManager(keysDir()).getKeys()).length, `keys.json after round ${round} (${moment})`).toBeGreaterThan(0);
      const attestationStarts = new Set(["SVID is not found. Starting node attestation", "The stored agent SVID cannot be used; starting node attestation"]);
      const attested = readLogLines(agent.logPath).filter((line) => attestationStarts.has(String(line.msg)));
      expect(attested, `node attestation in round ${round} (${moment}); see ${agent.logPath}`).toEqual([]);
    }

    const last = launch("after-crashes");
    await fetchWorkloadSvid(last);
    const lines = readLogLines(last.logPath);
    expect(lines.some((line) => line.msg === "Reusing the agent SVID stored in data_dir")).toBe(true);
    expect(lines.some((line) => line.msg === "Node attestation was successful")).toBe(false);
    expect(await last.stop()).toBe(0);
  });

  // These cases damage the agent-data.json that the test above left behind.
  it.each([
    ["truncated", (text: string) => text.slice(0, Math.floor(text.length / 2)), "not valid JSON"],
    ["garbage", () => "\u0000\u0013garbage", "not valid JSON"],
    ["empty", () => "", "the file is empty"],
  ])("stops with advice on %s agent-data.json", { timeout: 60_000 }, async (kind, damage, problem) => {
    const path = agentStatePath(dataDir());
    const good = readFileSync(path, "utf8");
    writeFileSync(path, damage(good));

    const agent = launch(`damaged-${kind}`);
    const exitCode = await agent.exited;

    expect(exitCode).toBe(1);
    const failure = readLogLines(agent.logPath).find((line) => line.msg === "Agent failed");
    expect(String(failure?.error)).toContain(`${path} is damaged: ${problem}`);
    expect(String(failure?.error)).toContain(`remove ${path} and start the agent with a new join token`);
    expect(readFileSync(path, "utf8")).toBe(damage(good));

    writeFileSync(path, good);
    const recovered = launch(`recovered-${kind}`);
    await fetchWorkloadSvid(recovered);
    expect(await recovered.stop()).toBe(0);
  });
});
