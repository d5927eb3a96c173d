/**
 * tessera-agent as a real process against a real tessera-server process: node attestation
 * with a join token, entry sync, SVID minting and rotation, restarts and shutdown.
 */
import { execFile, spawn } from "node:child_process";
import type { ChildProcess } from "node:child_process";
import { X509Certificate } from "node:crypto";
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createInterface } from "node:readline";
import { promisify } from "node:util";
import { afterAll, beforeAll, describe, expect, it } from "vitest";

import { agentBin, freePort, prepareAgentAttestation, startServer } from "../devtools/local-deployment.js";
import { splitConcatenatedDer } from "../spiffe/bundle.js";
import type { RunningServer } from "../devtools/local-deployment.js";

const execFileAsync = promisify(execFile);

const trustDomain = "agent.tessera.test";
const uid = process.getuid?.() ?? 0;
const serverBinExists = existsSync(join(agentBin, "..", "tessera-server.js"));

if (!serverBinExists) {
  console.warn("tessera-agent integration: bin/tessera-server.js is missing, so these tests are skipped");
}

type LogLine = Record<string, unknown> & { msg?: string };

/** A tessera-agent child process with its parsed JSON log lines. */
interface AgentProcess {
  child: ChildProcess;
  socketPath: string;
  lines: LogLine[];
  /** Resolves with the first log line (seen or future) that matches. */
  waitForLog(match: (line: LogLine) => boolean, timeoutMs?: number): Promise<LogLine>;
  /** Resolves with the exit code. */
  exited: Promise<number | null>;
}

function agentConfig(options: {
  folder: string;
  serverPort: number;
  bundlePath?: string;
  keyManager?: "memory" | "disk";
  extraAgent?: string[];
  syncInterval?: string;
}): string {
  const bootstrap = options.bundlePath === undefined ? "insecure_bootstrap = true" : `trust_bundle_path = "${options.bundlePath}"`;
  const keyManager =
    options.keyManager === "disk"
      ? `KeyManager "disk" {\n    plugin_data {\n      directory = "${join(options.folder, "keys")}"\n    }\n  }`
      : `KeyManager "memory" {\n    plugin_data {}\n  }`;
  return `agent {
  data_dir = "${join(options.folder, "data")}"
  log_level = "DEBUG"
  server_address = "127.0.0.1"
  server_port = "${options.serverPort}"
  socket_path = "${join(options.folder, "api.sock")}"
  ${bootstrap}
  trust_domain = "${trustDomain}"
  experimental {
    sync_interval = "${options.syncInterval ?? "500ms"}"
  }
  ${(options.extraAgent ?? []).join("\n  ")}
}

plugins {
  ${keyManager}
  NodeAttestor "join_token" {
    plugin_data {}
  }
  WorkloadAttestor "unix" {
    plugin_data {}
  }
}
`;
}

function spawnAgent(folder: string, configText: string, args: string[] = []): AgentProcess {
  mkdirSync(folder, { recursive: true });
  const configPath = join(folder, "agent.conf");
  writeFileSync(configPath, configText);

  const child = spawn(process.execPath, [agentBin, "run", "-config", configPath, ...args], { stdio: ["ignore", "pipe", "pipe"] });
  const lines: LogLine[] = [];
  const waiters: Array<{ match: (line: LogLine) => boolean; resolve: (line: LogLine) => void }> = [];
  let stderr = "";
  child.stderr?.on("data", (chunk: Buffer) => {
    stderr += chunk.toString();
  });

  createInterface({ input: child.stdout! }).on("line", (text) => {
    let line: LogLine;
    try {
      line = JSON.parse(text) as LogLine;
    } catch {
      return;
    }
    lines.push(line);
    for (const waiter of [...waiters]) {
      if (waiter.match(line)) {
        waiters.splice(waiters.indexOf(waiter), 1);
        waiter.resolve(line);
      }
    }
  });

  const exited = new Promise<number | null>((resolve) => child.once("exit", (code) => resolve(code)));

  return {
    child,
    socketPath: join(folder, "api.sock"),
    lines,
    exited,
    waitForLog(match, timeoutMs = 30_000) {
      const seen = lines.find(match);
      if (seen !== undefined) return Promise.resolve(seen);
      return new Promise((resolve, reject) => {
        const timer = setTimeout(() => {
          reject(new Error(`no matching agent log line within ${timeoutMs} ms; stderr: ${stderr}; last lines: ${JSON.stringify(lines.slice(-5))}`));
        }, timeoutMs);
        waiters.push({
          match,
          resolve: (line) => {
            clearTimeout(timer);
            resolve(line);
          },
        });
        void exited.then((code) => {
          clearTimeout(timer);
          reject(new Error(`the agent exited with code ${code} before the log line; stderr: ${stderr}; last lines: ${JSON.stringify(lines.slice(-5))}`));
        });
      });
    },
  };
}

async function stopAgent(agent: AgentProcess): Promise<number | null> {
  if (agent.child.exitCode !== null || agent.child.signalCode !== null) return agent.child.exitCode;
  agent.child.kill("SIGTERM");
  const timer = setTimeout(() => agent.child.kill("SIGKILL"), 10_000);
  const code = await agent.exited;
  clearTimeout(timer);
  return code;
}

interface FetchedSvid {
  spiffe_id: string;
  x509_svid: string;
}

/** Fetches this process's SVIDs with `tessera-agent api fetch x509 -output json`. */
async function fetchSvids(socketPath: string): Promise<FetchedSvid[]> {
  const { stdout } = await execFileAsync(process.execPath, [agentBin, "api", "fetch", "x509", "-socketPath", socketPath, "-output", "json"]);
  const parsed = JSON.parse(stdout) as { svids?: FetchedSvid[] };
  return parsed.svids ?? [];
}

/**
 * Polls the Workload API until `check` accepts the SVID list or the time runs out, and
 * returns the last list. A failed fetch (e.g. no identity yet) counts as an empty list.
 */
async function fetchUntil(socketPath: string, check: (svids: FetchedSvid[]) => boolean, timeoutMs = 20_000): Promise<FetchedSvid[]> {
  const deadline = Date.now() + timeoutMs;
  const fetchOrEmpty = (): Promise<FetchedSvid[]> => fetchSvids(socketPath).catch(() => []);
  let svids = await fetchOrEmpty();
  while (!check(svids) && Date.now() < deadline) {
    await new Promise((wake) => setTimeout(wake, 250));
    svids = await fetchOrEmpty();
  }
  return svids;
}

function leafOf(svid: FetchedSvid): X509Certificate {
  // The JSON output carries the concatenated DER chain in base64; the leaf comes first.
  return new X509Certificate(splitConcatenatedDer(Buffer.from(svid.x509_svid, "base64"))[0]!);
}

describe.skipIf(!serverBinExists)("tessera-agent with tessera-server", () => {
  let folder: string;
  let serverPort: number;
  let server: RunningServer;
  let bundlePath: string;
  const agents: AgentProcess[] = [];
  /** Agent ID of the first agent, which the later cases restart and inspect. */
  let mainAgentId = "";

  async function createEntry(parentId: string, spiffeId: string, selector: string): Promise<string> {
    const output = await server.cli(["entry", "create", "-parentID", parentId, "-spiffeID", spiffeId, "-selector", selector]);
    const match = /Entry ID\s*:\s*(\S+)/.exec(output);
    return match?.[1] ?? "";
  }

  beforeAll(async () => {
    folder = mkdtempSync(join(tmpdir(), "tessera-agent-it-"));
    serverPort = await freePort();
    server = await startServer({ folder, trustDomain, port: serverPort, defaultX509SvidTtl: "30s" });
    bundlePath = join(folder, "bundle.pem");
  });

  afterAll(async () => {
    for (const agent of agents) await stopAgent(agent);
    await server?.stop();
    if (folder) rmSync(folder, { recursive: true, force: true });
  });

  it("attests, serves SVIDs and follows entry changes", async () => {
    const nodeId = `spiffe://${trustDomain}/node/main`;
    const { joinToken } = await prepareAgentAttestation(server, nodeId, bundlePath);
    await createEntry(nodeId, `spiffe://${trustDomain}/workload/a`, `unix:uid:${uid}`);
    const agentFolder = join(folder, "main");

    const agent = spawnAgent(agentFolder, agentConfig({ folder: agentFolder, serverPort, bundlePath, keyManager: "disk" }), ["-joinToken", joinToken]);
    agents.push(agent);

    // The server names the agent after its token; the token's -spiffeID is an alias whose entries the agent gets.
    mainAgentId = `spiffe://${trustDomain}/spire/agent/join_token/${joinToken}`;
    const attested = await agent.waitForLog((line) => line.msg === "Node attestation was successful");
    expect(attested.spiffe_id).toBe(mainAgentId);
    const listening = await agent.waitForLog((line) => line.msg === "Workload API socket listening");
    expect(listening.socket_path).toBe(agent.socketPath);

    const first = await fetchSvids(agent.socketPath);
    expect(first.map((svid) => svid.spiffe_id)).toEqual([`spiffe://${trustDomain}/workload/a`]);
    expect(leafOf(first[0]!).subjectAltName).toBe(`URI:spiffe://${trustDomain}/workload/a`);

    const entryB = await createEntry(nodeId, `spiffe://${trustDomain}/workload/b`, `unix:uid:${uid}`);
    const both = await fetchUntil(agent.socketPath, (svids) => svids.length === 2);
    expect(both.map((svid) => svid.spiffe_id).sort()).toEqual([`spiffe://${trustDomain}/workload/a`, `spiffe://${trustDomain}/workload/b`]);

    await server.cli(["entry", "delete", "-entryID", entryB]);
    const afterDelete = await fetchUntil(agent.socketPath, (svids) => svids.length === 1);
    expect(afterDelete.map((svid) => svid.spiffe_id)).toEqual([`spiffe://${trustDomain}/workload/a`]);

    const unrelated = await createEntry(nodeId, `spiffe://${trustDomain}/workload/other-uid`, "unix:uid:4242");
    expect(unrelated).not.toBe("");
    await agent.waitForLog((line) => line.msg === "Creating X509-SVID" && line.spiffe_id === `spiffe://${trustDomain}/workload/other-uid`);
    expect((await fetchSvids(agent.socketPath)).map((svid) => svid.spiffe_id)).not.toContain(`spiffe://${trustDomain}/workload/other-uid`);
  });

  it("renews workload and agent SVIDs before they expire", async () => {
    const agent = agents[0]!;
    const before = await fetchSvids(agent.socketPath);
    const serial = leafOf(before[0]!).serialNumber;

    // The server issues 30 s SVIDs, so renewal is due after 13.5 to 16.5 s.
    const renewed = await fetchUntil(agent.socketPath, (svids) => svids.length > 0 && leafOf(svids[0]!).serialNumber !== serial, 25_000);
    expect(leafOf(renewed[0]!).serialNumber).not.toBe(serial);
    expect(agent.lines.some((line) => line.msg === "Renewing X509-SVID")).toBe(true);

    const agentRenewed = await agent.waitForLog((line) => line.msg === "Agent SVID renewed", 25_000);
    expect(agentRenewed.spiffe_id).toBe(mainAgentId);
    // The renewed agent SVID must work for later calls: a new entry still arrives.
    await createEntry(`spiffe://${trustDomain}/node/main`, `spiffe://${trustDomain}/workload/after-renewal`, `unix:uid:${uid}`);
    const after = await fetchUntil(agent.socketPath, (svids) => svids.some((svid) => svid.spiffe_id.endsWith("/after-renewal")));
    expect(after.map((svid) => svid.spiffe_id)).toContain(`spiffe://${trustDomain}/workload/after-renewal`);
  });

  it("keeps serving through a server restart and syncs again", async () => {
    const agent = agents[0]!;
    await server.stop();
    expect((await fetchSvids(agent.socketPath)).length).toBeGreaterThan(0);

    server = await startServer({ folder, trustDomain, port: serverPort, defaultX509SvidTtl: "30s" });
    await createEntry(`spiffe://${trustDomain}/node/main`, `spiffe://${trustDomain}/workload/late`, `unix:uid:${uid}`);

    const svids = await fetchUntil(agent.socketPath, (list) => list.some((svid) => svid.spiffe_id.endsWith("/late")), 45_000);
    expect(svids.map((svid) => svid.spiffe_id)).toContain(`spiffe://${trustDomain}/workload/late`);
  });

  it("stops on SIGTERM and removes its socket", async () => {
    const agent = agents[0]!;

    const code = await stopAgent(agent);

    expect(code).toBe(0);
    expect(existsSync(agent.socketPath)).toBe(false);
    expect(agent.lines.some((line) => line.msg === "Agent stopped")).toBe(true);
  });

  it("reuses its stored SVID after a restart without a token", async () => {
    const agentFolder = join(folder, "main");
    const stateFile = join(agentFolder, "data", "agent-data.json");
    expect(statSync(stateFile).mode & 0o777).toBe(0o600);
    expect(statSync(join(agentFolder, "keys", "keys.json")).mode & 0o777).toBe(0o600);

    const agent = spawnAgent(agentFolder, readFileSync(join(agentFolder, "agent.conf"), "utf8"));
    agents.push(agent);

    const reused = await agent.waitForLog((line) => line.msg === "Reusing the agent SVID stored in data_dir");
    expect(reused.spiffe_id).toBe(mainAgentId);
    await agent.waitForLog((line) => line.msg === "Workload API socket listening");
    expect((await fetchSvids(agent.socketPath)).length).toBeGreaterThan(0);
    expect(await stopAgent(agent)).toBe(0);
  });

  it("exits when the join token was already used", async () => {
    const nodeId = `spiffe://${trustDomain}/node/twice`;
    const { joinToken } = await prepareAgentAttestation(server, nodeId, bundlePath);
    const firstFolder = join(folder, "twice-1");
    const first = spawnAgent(firstFolder, agentConfig({ folder: firstFolder, serverPort, bundlePath }), ["-joinToken", joinToken]);
    agents.push(first);
    await first.waitForLog((line) => line.msg === "Node attestation was successful");

    const secondFolder = join(folder, "twice-2");
    const second = spawnAgent(secondFolder, agentConfig({ folder: secondFolder, serverPort, bundlePath }), ["-joinToken", joinToken]);
    agents.push(second);

    expect(await second.exited).toBe(1);
    const failure = second.lines.find((line) => line.msg === "Agent failed");
    // SPIRE's server rejects a used or unknown token with InvalidArgument, and so does Tessera's.
    expect(failure?.status_code).toBe("INVALID_ARGUMENT");
    expect(String(failure?.error)).toContain("join token does not exist or has already been used");
    expect(second.lines.filter((line) => line.msg === "Node attestation failed; retrying")).toEqual([]);
    expect(existsSync(second.socketPath)).toBe(false);
  });

  it("attests with insecure bootstrap", async () => {
    const nodeId = `spiffe://${trustDomain}/node/insecure`;
    const { joinToken } = await prepareAgentAttestation(server, nodeId, join(folder, "unused-bundle.pem"));
    await createEntry(nodeId, `spiffe://${trustDomain}/workload/insecure`, `unix:uid:${uid}`);
    const agentFolder = join(folder, "insecure");

    const agent = spawnAgent(agentFolder, agentConfig({ folder: agentFolder, serverPort }), ["-joinToken", joinToken]);
    agents.push(agent);

    const attested = await agent.waitForLog((line) => line.msg === "Node attestation was successful");
    expect(attested.spiffe_id).toBe(`spiffe://${trustDomain}/spire/agent/join_token/${joinToken}`);
    await agent.waitForLog((line) => line.msg === "Workload API socket listening");
    expect((await fetchSvids(agent.socketPath)).map((svid) => svid.spiffe_id)).toEqual([`spiffe://${trustDomain}/workload/insecure`]);
  });

  it("exits and forgets its SVID when banned", async () => {
    const nodeId = `spiffe://${trustDomain}/node/banned`;
    const { joinToken } = await prepareAgentAttestation(server, nodeId, bundlePath);
    const agentFolder = join(folder, "banned");
    const agentId = `spiffe://${trustDomain}/spire/agent/join_token/${joinToken}`;
    const agent = spawnAgent(agentFolder, agentConfig({ folder: agentFolder, serverPort, bundlePath, keyManager: "disk" }), ["-joinToken", joinToken]);
    agents.push(agent);
    await agent.waitForLog((line) => line.msg === "Workload API socket listening");
    expect(existsSync(join(agentFolder, "data", "agent-data.json"))).toBe(true);

    await server.cli(["agent", "ban", "-spiffeID", agentId]);

    expect(await agent.exited).toBe(1);
    const banned = agent.lines.find((line) => line.msg === "Agent is banned: removing SVID and shutting down");
    expect(banned?.reason).toBe("AGENT_BANNED");
    expect(banned?.spiffe_id).toBe(agentId);
    expect(existsSync(join(agentFolder, "data", "agent-data.json"))).toBe(false);
    expect(existsSync(agent.socketPath)).toBe(false);
  });

  it("mints at once for a workload beyond the cache limit", async () => {
    const nodeId = `spiffe://${trustDomain}/node/small-cache`;
    const { joinToken } = await prepareAgentAttestation(server, nodeId, bundlePath);
    const ids = ["one", "two", "three"].map((name) => `spiffe://${trustDomain}/small-cache/${name}`);
    for (const id of ids) await createEntry(nodeId, id, `unix:uid:${uid}`);
    const agentFolder = join(folder, "small-cache");
    // The cache prefetches one SVID of the four entries (three plus the node alias), so the
    // rest must be minted when the workload requests them, long before the next sync an hour away.
    const config = agentConfig({ folder: agentFolder, serverPort, bundlePath, extraAgent: ["x509_svid_cache_max_size = 1"], syncInterval: "1h" });
    const agent = spawnAgent(agentFolder, config, ["-joinToken", joinToken]);
    agents.push(agent);
    await agent.waitForLog((line) => line.msg === "Workload API socket listening");
    const mintedBeforeFetch = agent.lines.filter((line) => line.msg === "Creating X509-SVID").length;

    const svids = await fetchSvids(agent.socketPath);

    expect(mintedBeforeFetch).toBe(1);
    expect(svids.map((svid) => svid.spiffe_id).sort()).toEqual([...ids].sort());
    expect(agent.lines.filter((line) => line.msg === "Synchronized entries with the server")).toHaveLength(1);
  });
});
