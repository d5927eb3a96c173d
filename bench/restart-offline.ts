import { spawn } from "node:child_process";
import type { ChildProcess } from "node:child_process";
import { closeSync, existsSync, mkdirSync, mkdtempSync, openSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { credentials, Metadata } from "@grpc/grpc-js";
import { WorkloadApiClient } from "../src/proto/index.js";
import { agentBin, prepareAgentAttestation, readLogLines, startServer, writeAgentFiles } from "../src/devtools/local-deployment.js";
import type { AgentFiles, RunningServer } from "../src/devtools/local-deployment.js";

/** Settings for {@link measureRestartOffline}. */
export interface RestartOfflineOptions {
  /** Folder for the server's and the agent's files; must not be used by another daemon. */
  folder: string;
  trustDomain: string;
  /** Uid of this process: the entry selects it, so this process receives the SVID. */
  uid: number;
  /** Number of agent restarts to time. */
  samples: number;
}

/** Durations in milliseconds, one per restart. */
export interface RestartOfflineResult {
  /** From spawning `tessera-agent run` until this process received its X.509-SVID from the restarted agent. */
  restartMs: number[];
  /** Floor: from spawning `tessera-agent run -help` until it exited (Node.js start and loading the agent's modules). */
  processStartMs: number[];
  /** From the restarted agent's "Starting agent" log line to its "Workload API socket listening" line. */
  logStartToListeningMs: number[];
  /** X.509-SVIDs the last restart restored from the runtime cache, from its log. */
  restoredSvids: number;
  /** Folder used as `runtime_dir`. */
  runtimeDir: string;
}

/** How often the client retries FetchX509SVID while the restarted agent starts. */
const POLL_INTERVAL_MS = 20;

/**
 * Measures how soon a restarted tessera-agent serves X.509-SVIDs while tessera-server is
 * down. Starts its own server, because it kills it, and an agent with `KeyManager "disk"`
 * and a `runtime_dir` under /dev/shm, registers `uid`, and fetches the SVID once. It then
 * sends SIGKILL to the server and, `samples` times, stops the agent with SIGTERM (which
 * writes the runtime cache), spawns it again and polls FetchX509SVID every 20 ms until
 * the SVID arrives. The floor runs right after each restart.
 *
 * Throws when a restarted agent did not restore its SVIDs from the runtime cache, so the
 * figures always time the cache path. The 20 ms poll interval adds up to 20 ms to each
 * restart figure.
 */
export async function measureRestartOffline(options: RestartOfflineOptions): Promise<RestartOfflineResult> {
  const { folder, trustDomain, uid } = options;
  mkdirSync(folder, { recursive: true });
  const runtimeParent = mkdtempSync(join(existsSync("/dev/shm") ? "/dev/shm" : tmpdir(), "tessera-bench-runtime-"));
  const runtimeDir = join(runtimeParent, "runtime");
  const workloadId = `spiffe://${trustDomain}/bench/restart-workload`;

  let server: RunningServer | undefined;
  let agent: ChildProcess | undefined;
  try {
    server = await startServer({ folder, trustDomain });
    const nodeId = `spiffe://${trustDomain}/bench/restart-node`;
    const bundlePath = join(folder, "bundle.pem");
    const { joinToken } = await prepareAgentAttestation(server, nodeId, bundlePath);
    await server.cli(["entry", "create", "-parentID", nodeId, "-spiffeID", workloadId, "-selector", `unix:uid:${uid}`]);
    const files = writeAgentFiles({
      folder,
      trustDomain,
      serverPort: server.port,
      trustBundlePath: bundlePath,
      joinToken,
      diskKeyManagerDirectory: join(folder, "agent", "keys"),
      extraAgentConfig: [`runtime_dir = "${runtimeDir}"`],
    });

    agent = spawnAgent(files, files.logPath);
    await waitForSvid(files.socketPath, workloadId, agent);
    await killServer(server);

    const result: RestartOfflineResult = { restartMs: [], processStartMs: [], logStartToListeningMs: [], restoredSvids: 0, runtimeDir };
    for (let sample = 0; sample < options.samples; sample++) {
      await stopAgent(agent, files.logPath);

      const logPath = join(folder, "agent", `restart-${sample}.log`);
      const started = performance.now();
      agent = spawnAgent(files, logPath);
      await waitForSvid(files.socketPath, workloadId, agent);
      result.restartMs.push(performance.now() - started);

      result.processStartMs.push(await timeProcessStart());
      const restart = readRestartLog(logPath);
      result.logStartToListeningMs.push(restart.startToListeningMs);
      result.restoredSvids = restart.restoredSvids;
    }
    return result;
  } finally {
    if (agent !== undefined) await killChild(agent);
    await server?.stop();
    rmSync(runtimeParent, { recursive: true, force: true });
  }
}

/** Spawns `tessera-agent run` with its output written straight into `logPath`. */
function spawnAgent(files: AgentFiles, logPath: string): ChildProcess {
  const log = openSync(logPath, "a");
  try {
    return spawn(process.execPath, [agentBin, "run", "-config", files.configPath, "-joinTokenFile", files.joinTokenPath], {
      stdio: ["ignore", log, log],
    });
  } finally {
    closeSync(log);
  }
}

/**
 * Calls FetchX509SVID every 20 ms until the first response carries `spiffeId`. Each try
 * uses a new client with its own subchannel, so no grpc-js reconnect backoff left from a
 * failed try delays the next one.
 */
async function waitForSvid(socketPath: string, spiffeId: string, agent: ChildProcess, timeoutMs = 60_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (agent.exitCode !== null || agent.signalCode !== null) {
      throw new Error(`tessera-agent exited (code ${agent.exitCode}, signal ${agent.signalCode}) before it served an X.509-SVID`);
    }
    if ((await fetchSpiffeIds(socketPath)).includes(spiffeId)) return;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for an X.509-SVID for ${spiffeId} on ${socketPath}`);
    await new Promise((wake) => setTimeout(wake, POLL_INTERVAL_MS));
  }
}

/** Returns the SPIFFE IDs of the first FetchX509SVID response, or none when the call fails. */
function fetchSpiffeIds(socketPath: string): Promise<string[]> {
  const client = new WorkloadApiClient(`unix://${socketPath}`, credentials.createInsecure(), { "grpc.use_local_subchannel_pool": 1 });
  const metadata = new Metadata();
  metadata.set("workload.spiffe.io", "true");

  return new Promise((resolve) => {
    const stream = client.FetchX509SVID({}, metadata, { deadline: Date.now() + 5_000 });
    const finish = (spiffeIds: string[]): void => {
      stream.cancel();
      client.close();
      resolve(spiffeIds);
    };
    stream.once("data", (response: { svids: { spiffe_id: string }[] }) => finish(response.svids.map((svid) => svid.spiffe_id)));
    // UNAVAILABLE while the socket is missing, PERMISSION_DENIED before the SVIDs are in place.
    stream.once("error", () => finish([]));
  });
}

async function killServer(server: RunningServer): Promise<void> {
  const exited = new Promise((resolveExit) => server.process.once("exit", resolveExit));
  server.process.kill("SIGKILL");
  await exited;
  await server.stop();
}

/** Stops the agent with SIGTERM, which makes it write the runtime cache, and checks that it exited with 0. */
async function stopAgent(agent: ChildProcess, logPath: string): Promise<void> {
  const exited = new Promise<number | null>((resolveExit) => agent.once("exit", resolveExit));
  agent.kill("SIGTERM");
  const code = await exited;
  if (code !== 0) throw new Error(`tessera-agent exited with code ${code} after SIGTERM; see ${logPath}`);
}

async function killChild(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise((resolveExit) => child.once("exit", resolveExit));
  child.kill("SIGKILL");
  await exited;
}

/** Times `tessera-agent run -help`: main.ts imports every verb, so it loads the same modules as `run` and then exits. */
async function timeProcessStart(): Promise<number> {
  const started = performance.now();
  const child = spawn(process.execPath, [agentBin, "run", "-help"], { stdio: "ignore" });
  const code = await new Promise<number | null>((resolveExit) => child.once("exit", resolveExit));
  if (code !== 0) throw new Error(`"tessera-agent run -help" exited with code ${code}`);
  return performance.now() - started;
}

/** Reads the start-up time and the restored SVID count from one restarted agent's log. */
function readRestartLog(logPath: string): { startToListeningMs: number; restoredSvids: number } {
  const lines = readLogLines(logPath);
  const starting = lines.find((line) => line.msg === "Starting agent");
  const listening = lines.find((line) => line.msg === "Workload API socket listening");
  const restored = lines.find((line) => line.msg === "Restored SVIDs from the runtime cache");
  if (starting === undefined || listening === undefined) {
    throw new Error(`no "Starting agent" or "Workload API socket listening" line in ${logPath}`);
  }
  if (typeof restored?.x509_svids !== "number" || restored.x509_svids < 1) {
    throw new Error(`the restarted agent restored no X.509-SVID from the runtime cache; see ${logPath}`);
  }

  return {
    startToListeningMs: Date.parse(String(listening.time)) - Date.parse(String(starting.time)),
    restoredSvids: restored.x509_svids,
  };
}
