/**
 * `make bench`: Workload API figures of tessera-agent, each next to a floor measured in
 * the same run, with the ratio.
 *
 * Starts tessera-server and tessera-agent as real processes in a temporary folder and
 * registers the current user. Then:
 * - FetchX509SVID first-response latency and throughput, and FetchJWTSVID latency with a
 *   warm JWT-SVID cache. The same client processes (bench/workload-client.ts) run against
 *   the agent and against the floor server (bench/floor-server.ts), which replays
 *   responses recorded from the agent. CLIENTS processes run at once, each making CALLS
 *   sequential calls after WARMUP untimed ones.
 * - Entry-to-workload propagation (bench/propagation.ts).
 * - Agent restart with the server down (bench/restart-offline.ts): time from spawning the
 *   agent to the first X.509-SVID it serves from its runtime cache.
 * - Entry sync at scale (bench/sync-scale.ts): time to the first sync and to a full SVID
 *   cache with BENCH_SCALE_ENTRIES entries for one agent, and that agent's memory.
 * - Workload attestation (bench/attestation-bench.ts): cost per call of the unix, docker
 *   and k8s attestors, and the agent's memory while pod callers attest at once. Its
 *   settings are described in that file.
 *
 * Environment: BENCH_CLIENTS (default 4), BENCH_CALLS (default 300), BENCH_WARMUP (default
 * 30), BENCH_PROPAGATION_SAMPLES (default 5), BENCH_RESTART_SAMPLES (default 5; 0 skips the
 * restart benchmark), BENCH_SCALE_ENTRIES (default 10000; 0 skips the scale benchmark).
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
import { measurePropagation } from "./propagation.js";
import { measureRestartOffline } from "./restart-offline.js";
import { measureSyncAtScale } from "./sync-scale.js";
import { measureAttestation } from "./attestation-bench.js";

const execFileAsync = promisify(execFile);
const benchFolder = dirname(fileURLToPath(import.meta.url));

const clientCount = Number(process.env.BENCH_CLIENTS ?? 4);
const callsPerClient = Number(process.env.BENCH_CALLS ?? 300);
const warmupCalls = Number(process.env.BENCH_WARMUP ?? 30);
const propagationSamples = Number(process.env.BENCH_PROPAGATION_SAMPLES ?? 5);
const restartSamples = Number(process.env.BENCH_RESTART_SAMPLES ?? 5);
const scaleEntries = Number(process.env.BENCH_SCALE_ENTRIES ?? 10_000);
const trustDomain = "bench.tessera.test";

interface RunResult {
  latenciesMs: number[];
  callsPerSecond: number;
}

/** Runs the client processes for `method` against `socketPath` at the same time and merges their results. */
async function runClients(method: "x509" | "jwt", socketPath: string): Promise<RunResult> {
  const worker = join(benchFolder, "workload-client.js");
  const started = process.hrtime.bigint();
  const outputs = await Promise.all(
    Array.from({ length: clientCount }, () =>
      execFileAsync(process.execPath, [worker, method, socketPath, String(callsPerClient), String(warmupCalls)], {
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

function workloadApiClient(socketPath: string): { client: WorkloadApiClient; metadata: Metadata } {
  const metadata = new Metadata();
  metadata.set("workload.spiffe.io", "true");
  return { client: new WorkloadApiClient(`unix://${socketPath}`, credentials.createInsecure()), metadata };
}

/** Fetches one real FetchX509SVID response from the agent and returns it serialized. */
function recordX509Response(socketPath: string): Promise<Buffer> {
  const { client, metadata } = workloadApiClient(socketPath);
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

/** Fetches one real FetchJWTSVID response (audience "bench") from the agent and returns it serialized. */
function recordJwtResponse(socketPath: string): Promise<Buffer> {
  const { client, metadata } = workloadApiClient(socketPath);
  return new Promise((resolve, reject) => {
    client.FetchJWTSVID({ audience: ["bench"] }, metadata, (error, response) => {
      client.close();
      if (error || response === undefined) reject(error ?? new Error("FetchJWTSVID returned no response"));
      else resolve(workloadApiService.FetchJWTSVID.responseSerialize(response));
    });
  });
}

async function startFloor(socketPath: string, x509ResponseFile: string, jwtResponseFile: string): Promise<() => void> {
  const child = spawn(process.execPath, [join(benchFolder, "floor-server.js"), socketPath, x509ResponseFile, jwtResponseFile], {
    stdio: ["ignore", "pipe", "inherit"],
  });
  await new Promise<void>((resolve, reject) => {
    child.stdout.once("data", () => resolve());
    child.once("exit", (code) => reject(new Error(`floor server exited with code ${code}`)));
  });
  return () => child.kill("SIGTERM");
}

function median(values: number[]): number {
  return percentile(values, 50);
}

function formatRow(name: string, tessera: number, floor: number, unit: string): string {
  const ratio = floor > 0 ? tessera / floor : Number.NaN;
  return `${name.padEnd(32)} ${tessera.toFixed(3).padStart(10)} ${floor.toFixed(3).padStart(10)} ${ratio.toFixed(2).padStart(7)}  ${unit}`;
}

function printHeader(title: string): void {
  console.log("");
  console.log(title);
  console.log(`${"metric".padEnd(32)} ${"tessera".padStart(10)} ${"floor".padStart(10)} ${"ratio".padStart(7)}  unit`);
}

function printLatencies(tessera: RunResult, floor: RunResult): void {
  for (const p of [50, 90, 99]) {
    console.log(formatRow(`latency p${p}`, percentile(tessera.latenciesMs, p), percentile(floor.latenciesMs, p), "ms"));
  }
  console.log(formatRow("throughput", tessera.callsPerSecond, floor.callsPerSecond, "calls/s"));
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

    const x509Response = await recordX509Response(agent.socketPath);
    const jwtResponse = await recordJwtResponse(agent.socketPath);
    const x509ResponseFile = join(folder, "x509-response.bin");
    const jwtResponseFile = join(folder, "jwt-response.bin");
    writeFileSync(x509ResponseFile, x509Response);
    writeFileSync(jwtResponseFile, jwtResponse);
    const floorSocket = join(folder, "floor.sock");
    stopFloor = await startFloor(floorSocket, x509ResponseFile, jwtResponseFile);

    console.log(`machine: ${cpus().length} x ${cpus()[0]?.model ?? "unknown CPU"}, Node.js ${process.version}`);
    console.log(`${clientCount} client processes x ${callsPerClient} calls each, after ${warmupCalls} warm-up calls`);

    printHeader(`FetchX509SVID first response (response ${x509Response.length} bytes)`);
    printLatencies(await runClients("x509", agent.socketPath), await runClients("x509", floorSocket));

    printHeader(`FetchJWTSVID with a warm JWT-SVID cache (response ${jwtResponse.length} bytes)`);
    printLatencies(await runClients("jwt", agent.socketPath), await runClients("jwt", floorSocket));

    const propagation = await measurePropagation({ server, socketPath: agent.socketPath, parentId: nodeId, trustDomain, uid, samples: propagationSamples });
    printHeader(`Entry-to-workload propagation, ${propagationSamples} entries (floor: the entry create command alone; agent sync_interval 5s)`);
    console.log(formatRow("median", median(propagation.propagationMs), median(propagation.entryCreateMs), "ms"));
    console.log(formatRow("max", Math.max(...propagation.propagationMs), Math.max(...propagation.entryCreateMs), "ms"));

    if (restartSamples > 0) {
      const restart = await measureRestartOffline({ folder: join(folder, "restart"), trustDomain, uid, samples: restartSamples });
      printHeader(`Agent restart to first X.509-SVID, server down, ${restartSamples} restarts (floor: "tessera-agent run -help", Node.js start and module load)`);
      console.log(formatRow("median", median(restart.restartMs), median(restart.processStartMs), "ms"));
      console.log(formatRow("max", Math.max(...restart.restartMs), Math.max(...restart.processStartMs), "ms"));
      console.log(`agent log, "Starting agent" to "Workload API socket listening": median ${median(restart.logStartToListeningMs).toFixed(0)} ms, max ${Math.max(...restart.logStartToListeningMs).toFixed(0)} ms`);
      console.log(`${restart.restoredSvids} X.509-SVIDs restored from the runtime cache in ${restart.runtimeDir}; FetchX509SVID polled every 20 ms`);
    }

    if (scaleEntries > 0) {
      const scale = await measureSyncAtScale({ server, folder: join(folder, "scale"), trustDomain, entries: scaleEntries });
      printHeader(`Entry sync at scale, ${scaleEntries} entries for one agent (${scale.revisionPages} revision pages in the first sync)`);
      console.log(formatRow("first sync (floor: ListEntries)", scale.firstSyncMs, scale.listMs, "ms"));
      console.log(formatRow("start to sync (floor: idle)", scale.startToFirstSyncMs, scale.idleStartToFirstSyncMs, "ms"));
      console.log(formatRow("agent RSS (floor: idle)", scale.rssKb / 1024, scale.idleRssKb / 1024, "MiB"));
      console.log(`all ${scaleEntries} X.509-SVIDs cached ${(scale.allSvidsMs / 1000).toFixed(1)} s after the agent started; creating the entries took ${(scale.createMs / 1000).toFixed(1)} s`);
      console.log(`agent memory per cached SVID: ${((scale.rssKb - scale.idleRssKb) / scaleEntries).toFixed(2)} KiB (RSS difference to the idle agent)`);
    }

    for (const section of await measureAttestation({ server, folder: join(folder, "attestation"), trustDomain })) {
      printHeader(section.title);
      for (const row of section.rows) console.log(formatRow(row.name, row.value, row.floor, row.unit));
      for (const note of section.notes) console.log(note);
    }
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
