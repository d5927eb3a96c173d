/**
 * End to end: the operator-facing signals and `validate` of a real tessera-agent from
 * dist/. SIGHUP applies log_level, log_selectors and the workload attestors while a
 * FetchX509SVID stream stays open, names options that need a restart, and keeps the
 * running configuration when the file does not parse. SIGUSR2 reopens log_file after a
 * rename, as logrotate does. SIGTERM stops the agent with exit code 0.
 */
import { execFile } from "node:child_process";
import { chmodSync, existsSync, mkdtempSync, readFileSync, readlinkSync, renameSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import { credentials, Metadata } from "@grpc/grpc-js";
import type { ClientReadableStream, ServiceError } from "@grpc/grpc-js";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { agentBin, prepareAgentAttestation, readLogLines, startAgent, startServer, waitForLogFileLine } from "../../src/devtools/local-deployment.js";
import type { RunningAgent, RunningServer } from "../../src/devtools/local-deployment.js";
import { WorkloadApiClient } from "../../src/proto/index.js";
import type { workload } from "../../src/proto/index.js";

const execFileAsync = promisify(execFile);

const trustDomain = "signals.tessera.test";
const nodeId = `spiffe://${trustDomain}/node`;
const uidId = `spiffe://${trustDomain}/by-uid`;
const pathId = `spiffe://${trustDomain}/by-path`;
const uid = process.getuid?.() ?? 0;
const isRoot = uid === 0;

/** The unix attestor block as writeAgentFiles writes it. */
const PLAIN_UNIX_BLOCK = 'WorkloadAttestor "unix" {\n    plugin_data {}';
/** The same block with path selectors; hashing is off because the node binary is large. */
const PATH_UNIX_BLOCK = 'WorkloadAttestor "unix" {\n    plugin_data {\n      discover_workload_path = true\n      workload_size_limit = -1\n    }';

/** An open FetchX509SVID stream and what it has received. */
interface WatchedStream {
  updates: string[][];
  error(): ServiceError | undefined;
  /** Resolves with the first update, or rejects with the error that ended the stream first. */
  first: Promise<string[]>;
  cancel(): void;
}

function watch(stream: ClientReadableStream<workload.X509SVIDResponse__Output>): WatchedStream {
  const updates: string[][] = [];
  let ended: ServiceError | undefined;
  const first = new Promise<string[]>((resolve, reject) => {
    stream.on("data", (response: workload.X509SVIDResponse__Output) => {
      const ids = response.svids.map((svid) => svid.spiffe_id).sort();
      updates.push(ids);
      resolve(ids);
    });
    stream.on("error", (error: ServiceError) => {
      ended = error;
      reject(error);
    });
  });
  first.catch(() => undefined);
  return { updates, error: () => ended, first, cancel: () => stream.cancel() };
}

describe("agent signals and validate", () => {
  let folder: string;
  let server: RunningServer;
  let agent: RunningAgent;
  let client: WorkloadApiClient;
  let logFile: string;
  let originalConfig: string;
  const streams: WatchedStream[] = [];

  function securityHeader(): Metadata {
    const metadata = new Metadata();
    metadata.set("workload.spiffe.io", "true");
    return metadata;
  }

  function openStream(): WatchedStream {
    const stream = watch(client.FetchX509SVID({}, securityHeader()));
    streams.push(stream);
    return stream;
  }

  /** Returns the agent's log lines after the first `after` ones, so each test reads only its own. */
  function logLinesAfter(after: number): Record<string, unknown>[] {
    return readLogLines(logFile).slice(after);
  }

  function signal(name: NodeJS.Signals): void {
    agent.process.kill(name);
  }

  function rewriteConfig(change: (text: string) => string): void {
    writeFileSync(agent.configPath, change(originalConfig));
  }

  async function waitForLine(after: number, match: (line: Record<string, unknown>) => boolean): Promise<Record<string, unknown>> {
    const deadline = Date.now() + 30_000;
    for (;;) {
      const found = logLinesAfter(after).find(match);
      if (found !== undefined) return found;
      if (Date.now() > deadline) throw new Error(`no matching line in ${logFile} after line ${after}`);
      await new Promise((wake) => setTimeout(wake, 100));
    }
  }

  beforeAll(async () => {
    folder = mkdtempSync(join(tmpdir(), "tessera-signals-"));
    // Lets the unprivileged client reach the socket below it.
    chmodSync(folder, 0o755);
    logFile = join(folder, "logs", "agent.log");
    server = await startServer({ folder, trustDomain });
    const bundlePath = join(folder, "bundle.pem");
    const { joinToken } = await prepareAgentAttestation(server, nodeId, bundlePath);

    await server.cli(["entry", "create", "-parentID", nodeId, "-spiffeID", uidId, "-selector", `unix:uid:${uid}`]);
    // Matches this process only once the unix attestor reports path selectors.
    const executable = readlinkSync("/proc/self/exe");
    await server.cli(["entry", "create", "-parentID", nodeId, "-spiffeID", pathId, "-selector", `unix:uid:${uid}`, "-selector", `unix:path:${executable}`]);

    agent = await startAgent({
      folder,
      trustDomain,
      serverPort: server.port,
      trustBundlePath: bundlePath,
      joinToken,
      logLevel: "INFO",
      extraAgentConfig: [`log_file = "${logFile}"`, "experimental {", '  sync_interval = "1s"', "}"],
    });
    originalConfig = readFileSync(agent.configPath, "utf8");
    client = new WorkloadApiClient(`unix://${agent.socketPath}`, credentials.createInsecure());
  }, 90_000);

  afterAll(async () => {
    for (const stream of streams) stream.cancel();
    client?.close();
    await agent?.stop();
    await server?.stop();
    if (folder) rmSync(folder, { recursive: true, force: true });
  });

  it("validates the running agent's file", async () => {
    const { stdout, stderr } = await execFileAsync(process.execPath, [agentBin, "validate", "-config", agent.configPath]);

    expect(stdout).toBe(`Agent configuration file ${agent.configPath} is valid.\n`);
    expect(stderr).toBe("");
  });

  it("rejects a misspelt option in validate", async () => {
    const misspelt = join(folder, "misspelt.conf");
    writeFileSync(misspelt, originalConfig.replace("log_level =", "log_levle ="));

    const failure = await execFileAsync(process.execPath, [agentBin, "validate", "-config", misspelt]).then(
      () => undefined,
      (error: { code: number; stdout: string; stderr: string }) => error,
    );

    expect(failure?.code).toBe(1);
    expect(failure?.stdout).toBe("");
    expect(failure?.stderr).toContain("unknown option agent.log_levle; did you mean log_level?");
  });

  it("applies log_level and attestors on SIGHUP while a stream stays open", async () => {
    const start = readLogLines(logFile).length;
    const openBeforeReload = openStream();
    expect(await openBeforeReload.first).toEqual([uidId]);
    expect(readLogLines(logFile).filter((line) => line.level === "debug")).toEqual([]);

    rewriteConfig((text) =>
      text
        .replace('log_level = "INFO"', 'log_level = "DEBUG"\n  log_selectors = ["unix:uid"]\n  x509_svid_cache_max_size = 500')
        .replace(PLAIN_UNIX_BLOCK, PATH_UNIX_BLOCK),
    );
    signal("SIGHUP");

    const applied = await waitForLine(start, (line) => line.msg === "Applied configuration changes");
    const restart = await waitForLine(start, (line) => line.msg === "Changed options take effect only after a restart");
    expect(applied.options).toEqual(["agent.log_level", "agent.log_selectors", "plugins.WorkloadAttestor.unix"]);
    expect(applied.subsystem).toBe("reconfigurer");
    expect(restart.options).toEqual(["agent.x509_svid_cache_max_size"]);

    // A new call is attested with path selectors and logged at DEBUG.
    const fresh = openStream();
    expect(await fresh.first).toEqual([pathId, uidId].sort());
    const debugLine = await waitForLine(start, (line) => line.level === "debug" && line.msg === "Sending X.509-SVIDs");
    expect(debugLine.pid).toBe(process.pid);

    // The stream opened before the reload keeps its attestation and its SVID.
    await new Promise((wake) => setTimeout(wake, 2_500));
    expect(openBeforeReload.error()).toBeUndefined();
    expect(openBeforeReload.updates.at(-1)).toEqual([uidId]);
  });

  it.skipIf(!isRoot)("logs a refused caller with the selectors log_selectors allows (root)", async () => {
    const start = readLogLines(logFile).length;

    const fetchFailure = await execFileAsync("setpriv", ["--reuid=65534", "--regid=65534", "--clear-groups", process.execPath, agentBin, "api", "fetch", "-socketPath", agent.socketPath]).then(
      () => undefined,
      (error: { code: number; stderr: string }) => error,
    );

    const line = await waitForLine(start, (entry) => entry.msg === "No identity issued");
    expect(fetchFailure?.stderr).toContain("no identity issued");
    expect(line).toMatchObject({ method: "FetchX509SVID", subsystem: "workload_api", selectors: ["unix:uid:65534"] });
    expect(line.selectors_hidden).toBeGreaterThan(0);
    expect(typeof line.pid).toBe("number");
  });

  it("keeps the running configuration when SIGHUP finds a broken file", async () => {
    const start = readLogLines(logFile).length;
    writeFileSync(agent.configPath, "agent {\n  log_level = \n");

    signal("SIGHUP");

    const failure = await waitForLine(start, (line) => line.msg === "Failed to reload the configuration; the running configuration stays");
    expect(failure.level).toBe("error");
    const after = openStream();
    expect(await after.first).toEqual([pathId, uidId].sort());
    await waitForLine(start, (line) => line.level === "debug" && line.msg === "Sending X.509-SVIDs");
  });

  it("reopens log_file on SIGUSR2 after a rename", async () => {
    const rotated = `${logFile}.1`;
    renameSync(logFile, rotated);

    signal("SIGUSR2");
    await waitForLogFileLine(logFile, (line) => line.msg === "Reopened the log file");
    const after = openStream();
    await after.first;
    await waitForLogFileLine(logFile, (line) => line.msg === "Sending X.509-SVIDs");

    expect(existsSync(rotated)).toBe(true);
    expect(readLogLines(rotated).some((line) => line.msg === "Reopened the log file")).toBe(false);
    expect(readLogLines(rotated).some((line) => line.msg === "Applied configuration changes")).toBe(true);
    expect(readLogLines(logFile)[0]?.msg).toBe("Reopened the log file");
  });

  it("stops cleanly on SIGTERM", async () => {
    const code = await agent.stop();

    expect(code).toBe(0);
    expect(readLogLines(logFile).some((line) => line.msg === "Agent stopped")).toBe(true);
  });
});
