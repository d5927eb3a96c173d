/**
 * `make bench`: FetchX509SVID first-response latency and throughput of tessera-agent,
 * next to a floor measured in the same run.
 *
 * Starts tessera-server and tessera-agent as real processes in a temporary folder,
 * registers the current user, records one real X509SVIDResponse, and starts the floor
 * server (bench/floor-server.ts) that replays it. Then the same client processes
 * (bench/fetch-x509-client.ts) run against each: CLIENTS processes at once, each making
 * CALLS sequential calls after WARMUP untimed ones.
 *
 * Environment: BENCH_CLIENTS (default 4), BENCH_CALLS (default 300), BENCH_WARMUP (default 30).
 */
import { execFile, spawn } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { cpus, tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";
import { credentials, Metadata } from "@grpc/grpc-js";
import { WorkloadApiClient, workloadApiService } from "../src/proto/index.js";
import { prepareAgentAttestation, startAgent, startServer } from "../src/devtools/local-deployment.js";

const execFileAsync = promisify(execFile);
const benchFolder = dirname(fileURLToPath(import.meta.url));

const clientCount = Number(process.env.BENCH_CLIENTS ?? 4);
const callsPerClient = Number(process.env.BENCH_CALLS ?? 300);
const warmupCalls = Number(process.env.BENCH_WARMUP ?? 30);
const trustDomain = "bench.tessera.test";

interface RunResult {
  latenciesMs: number[];
  callsPerSecond: number;
}

/** Runs the client processes against `socketPath` at the same time and merges their results. */
async function runClients(socketPath: string): Promise<RunResult> {
  const worker = join(benchFolder, "fetch-x509-client.js");
  const started = process.hrtime.bigint();
  const outputs = await Promise.all(
    Array.from({ length: clientCount }, () =>
      execFileAsync(process.execPath, [worker, socketPath, String(callsPerClient), String(warmupCalls)], {
        maxBuffer: 64 * 1024 * 1024,
      }),
    ),
  );
  const wallMs = Number(process.hrtime.bigint() - started) / 1e6;

  const latenciesMs = outputs.flatMap(({ stdout }) => (JSON.parse(stdout) as { latenciesMs: number[] }).latenciesMs);
  const timedShare = callsPerClient / (callsPerClient + warmupCalls);
  return { latenciesMs, callsPerSecond: latenciesMs.length / ((wallMs * timedShare) / 1000) };
}

/** Returns the p-th percentile (0 to 100) of `values` by the nearest-rank method. */
function percentile(values: number[], p: number): number {
  const sorted = [...values].sort((a, b) => a - b);
  const rank = Math.max(1, Math.ceil((p / 100) * sorted.length));
  return sorted[rank - 1] ?? Number.NaN;
}

/** Fetches one real FetchX509SVID response from the agent and returns it serialized. */
function recordResponse(socketPath: string): Promise<Buffer> {
  const client = new WorkloadApiClient(`unix://${socketPath}`, credentials.createInsecure());
  const metadata = new Metadata();
  metadata.set("workload.spiffe.io", "true");
  return new Promise((resolve, reject) => {
    const stream = client.FetchX509SVID({}, metadata);
    stream.once("data", (response) => {
      stream.cancel();
      client.close();
      resolve(workloadApiService.FetchX509SVID.responseSerialize(response));
    });
    stream.once("error", (error: { code?: number }) => {
      if (error.code !== 1) reject(error);
    });
  });
}

async function startFloor(socketPath: string, responseFile: string): Promise<() => void> {
  const child = spawn(process.execPath, [join(benchFolder, "floor-server.js"), socketPath, responseFile], {
    stdio: ["ignore", "pipe", "inherit"],
  });
  await new Promise<void>((resolve, reject) => {
    child.stdout.once("data", () => resolve());
    child.once("exit", (code) => reject(new Error(`floor server exited with code ${code}`)));
  });
  return () => child.kill("SIGTERM");
}

function formatRow(name: string, tessera: number, floor: number, unit: string): string {
  const ratio = floor > 0 ? tessera / floor : Number.NaN;
  return `${name.padEnd(28)} ${tessera.toFixed(3).padStart(10)} ${floor.toFixed(3).padStart(10)} ${ratio.toFixed(2).padStart(7)}  ${unit}`;
}

async function main(): Promise<void> {
  const folder = mkdtempSync(join(tmpdir(), "tessera-bench-"));
  const uid = process.getuid?.() ?? 0;
  const server = await startServer({ folder, trustDomain });
  let agent: Awaited<ReturnType<typeof startAgent>> | undefined;
  let stopFloor: (() => void) | undefined;

  try {
    const nodeId = `spiffe://${trustDomain}/bench/node`;
    const bundlePath = join(folder, "bundle.pem");
    const { joinToken } = await prepareAgentAttestation(server, nodeId, bundlePath);
    await server.cli(["entry", "create", "-parentID", nodeId, "-spiffeID", `spiffe://${trustDomain}/bench/client`, "-selector", `unix:uid:${uid}`]);
    agent = await startAgent({ folder, trustDomain, serverPort: server.port, trustBundlePath: bundlePath, joinToken });

    const response = await recordResponse(agent.socketPath);
    const responseFile = join(folder, "x509-response.bin");
    writeFileSync(responseFile, response);
    const floorSocket = join(folder, "floor.sock");
    stopFloor = await startFloor(floorSocket, responseFile);

    const tessera = await runClients(agent.socketPath);
    const floor = await runClients(floorSocket);

    console.log(`FetchX509SVID first response: ${clientCount} client processes x ${callsPerClient} calls (after ${warmupCalls} warm-up calls each)`);
    console.log(`response size ${response.length} bytes; machine: ${cpus().length} x ${cpus()[0]?.model ?? "unknown CPU"}, Node.js ${process.version}`);
    console.log(`${"metric".padEnd(28)} ${"tessera".padStart(10)} ${"floor".padStart(10)} ${"ratio".padStart(7)}  unit`);
    for (const p of [50, 90, 99]) {
      console.log(formatRow(`latency p${p}`, percentile(tessera.latenciesMs, p), percentile(floor.latenciesMs, p), "ms"));
    }
    console.log(formatRow("throughput", tessera.callsPerSecond, floor.callsPerSecond, "calls/s"));
  } finally {
    stopFloor?.();
    await agent?.stop();
    await server.stop();
    rmSync(folder, { recursive: true, force: true });
  }
}

main().catch((error: unknown) => {
  console.error(`benchmark failed: ${error instanceof Error ? error.stack ?? error.message : String(error)}`);
  process.exit(1);
});
