/**
 * Shared parts of the rotation tests (soak.test.ts, ca-rotation.test.ts): a server and agent
 * with short-lived SVIDs, the watcher processes that check them, and log reading.
 */
import { execFile, spawn } from "node:child_process";
import { join } from "node:path";
import { promisify } from "node:util";
import { agentBin, prepareAgentAttestation, repositoryRoot, startAgent, startServer } from "../../src/devtools/local-deployment.js";
import type { RunningAgent, RunningServer, ServerOptions } from "../../src/devtools/local-deployment.js";
import type { WatchReport } from "./clients/svid-watcher.js";

const execFileAsync = promisify(execFile);

/** Settings of {@link startShortTtlDeployment}. */
export interface ShortTtlDeploymentOptions {
  folder: string;
  trustDomain: string;
  /** SPIFFE IDs of the entries made for this process's uid, with 10 s X.509-SVIDs and 5 s JWT-SVIDs. */
  workloadIds: string[];
  /** `ca_ttl` and `agent_ttl` of the server. */
  server?: Pick<ServerOptions, "caTtl" | "agentTtl">;
  /** The agent's `experimental.sync_interval`, in Go duration syntax. */
  syncInterval: string;
}

/** The daemons {@link startShortTtlDeployment} started; stop both, even when it fails part-way. */
export interface ShortTtlDeployment {
  server: RunningServer;
  agent: RunningAgent;
}

/**
 * Starts tessera-server and tessera-agent in `folder`, registers `workloadIds` for this
 * process's uid under the agent's node ID, and waits (up to 30 s) until the agent serves
 * all of them. `deployment` is filled in as the daemons start, so the caller can stop
 * them after a failure.
 */
export async function startShortTtlDeployment(options: ShortTtlDeploymentOptions, deployment: Partial<ShortTtlDeployment>): Promise<ShortTtlDeployment> {
  const nodeId = `spiffe://${options.trustDomain}/node`;
  const uid = process.getuid?.() ?? 0;
  const server = await startServer({ folder: options.folder, trustDomain: options.trustDomain, ...options.server });
  deployment.server = server;

  const bundlePath = join(options.folder, "bundle.pem");
  const { joinToken } = await prepareAgentAttestation(server, nodeId, bundlePath);
  for (const spiffeId of options.workloadIds) {
    await server.cli(["entry", "create", "-parentID", nodeId, "-spiffeID", spiffeId, "-selector", `unix:uid:${uid}`, "-x509SVIDTTL", "10", "-jwtSVIDTTL", "5"]);
  }
  const agent = await startAgent({
    folder: options.folder,
    trustDomain: options.trustDomain,
    serverPort: server.port,
    trustBundlePath: bundlePath,
    joinToken,
    extraAgentConfig: ["experimental {", `  sync_interval = "${options.syncInterval}"`, "}"],
  });
  deployment.agent = agent;

  const deadline = Date.now() + 30_000;
  while ((await servedCount(agent.socketPath)) < options.workloadIds.length && Date.now() < deadline) {
    await new Promise((wake) => setTimeout(wake, 200));
  }
  return { server, agent };
}

async function servedCount(socketPath: string): Promise<number> {
  try {
    const { stdout } = await execFileAsync(process.execPath, [agentBin, "api", "fetch", "x509", "-socketPath", socketPath, "-output", "json"]);
    return (JSON.parse(stdout) as { svids: unknown[] }).svids.length;
  } catch {
    return 0;
  }
}

/** Settings of {@link runWatchers}. */
export interface WatcherOptions {
  socketPath: string;
  /** Number of client processes. */
  count: number;
  durationMs: number;
  /** Interval of the checks between updates. */
  sampleMs: number;
  /** Audience for FetchJWTSVID calls every `jwtIntervalMs`; no JWT calls when unset. */
  jwtAudience?: string;
  jwtIntervalMs?: number;
}

/** Running watcher processes; `reports` resolves with their reports once all have exited. */
export interface RunningWatchers {
  pids: number[];
  reports: Promise<WatchReport[]>;
  /** Asks every watcher to report now (SIGTERM), e.g. when a test fails early. */
  stop(): void;
}

/**
 * Starts `count` svid-watcher processes (test/e2e/clients/svid-watcher.ts, run from dist/)
 * against one Workload API socket. A watcher that exits without a report rejects `reports`
 * with its standard error.
 */
export function runWatchers(options: WatcherOptions): RunningWatchers {
  const script = join(repositoryRoot, "dist", "test", "e2e", "clients", "svid-watcher.js");
  const args = [script, options.socketPath, String(options.durationMs), String(options.sampleMs)];
  if (options.jwtAudience !== undefined) args.push(options.jwtAudience, String(options.jwtIntervalMs ?? 1000));

  const children = Array.from({ length: options.count }, () => spawn(process.execPath, args, { stdio: ["ignore", "pipe", "pipe"] }));
  const reports = Promise.all(
    children.map(
      (child) =>
        new Promise<WatchReport>((resolve, reject) => {
          let stdout = "";
          let stderr = "";
          child.stdout.on("data", (chunk: Buffer) => (stdout += chunk.toString("utf8")));
          child.stderr.on("data", (chunk: Buffer) => (stderr += chunk.toString("utf8")));
          child.once("close", (code) => {
            try {
              resolve(JSON.parse(stdout) as WatchReport);
            } catch {
              reject(new Error(`svid-watcher ${child.pid} exited with code ${code} without a report: ${stderr}`));
            }
          });
        }),
    ),
  );

  return {
    pids: children.map((child) => child.pid ?? 0),
    reports,
    stop() {
      for (const child of children) {
        if (child.exitCode === null) child.kill("SIGTERM");
      }
    },
  };
}

/** Reads the JSON lines of a daemon log whose `msg` is `message`, adding `timeMs` from the `time` field (ISO 8601 or epoch ms). */
export function logLines<T extends object>(logText: string, message: string): (T & { timeMs: number })[] {
  return logText
    .split("\n")
    .filter((line) => line.includes(`"${message}"`))
    .flatMap((line) => {
      try {
        const parsed = JSON.parse(line) as T & { msg?: string; time?: string | number };
        const timeMs = typeof parsed.time === "number" ? parsed.time : Date.parse(parsed.time ?? "");
        return parsed.msg === message ? [{ ...parsed, timeMs }] : [];
      } catch {
        return [];
      }
    });
}
