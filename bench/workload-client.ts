/**
 * Benchmark worker: one Workload API client process that makes `calls` requests one
 * after another on one connection and prints their latencies as JSON on standard output.
 *
 * Usage: node workload-client.js x509|jwt SOCKET_PATH CALLS WARMUP_CALLS
 *
 * - x509: opens a FetchX509SVID stream and times it until the first response, then cancels.
 * - jwt: calls FetchJWTSVID for the audience "bench". After the first call the agent
 *   serves the token from its JWT-SVID cache.
 *
 * The first WARMUP_CALLS calls (connection set-up, JIT warm-up) are not timed.
 */
import { credentials, Metadata } from "@grpc/grpc-js";
import { WorkloadApiClient } from "../src/proto/index.js";

const [method, socketPath, callsText, warmupText = "0"] = process.argv.slice(2);
if ((method !== "x509" && method !== "jwt") || socketPath === undefined || callsText === undefined) {
  console.error("usage: workload-client x509|jwt SOCKET_PATH CALLS WARMUP_CALLS");
  process.exit(2);
}
const calls = Number(callsText);
const warmupCalls = Number(warmupText);

const client = new WorkloadApiClient(`unix://${socketPath}`, credentials.createInsecure());
const metadata = new Metadata();
metadata.set("workload.spiffe.io", "true");

function fetchX509Once(): Promise<number> {
  return new Promise((resolve, reject) => {
    const started = process.hrtime.bigint();
    const stream = client.FetchX509SVID({}, metadata);
    stream.once("data", () => {
      const elapsedMs = Number(process.hrtime.bigint() - started) / 1e6;
      stream.cancel();
      resolve(elapsedMs);
    });
    stream.once("error", (error: { code?: number }) => {
      // CANCELLED (1) follows our own cancel() after the first message.
      if (error.code !== 1) reject(error);
    });
  });
}

function fetchJwtOnce(): Promise<number> {
  return new Promise((resolve, reject) => {
    const started = process.hrtime.bigint();
    client.FetchJWTSVID({ audience: ["bench"] }, metadata, (error) => {
      if (error) reject(error);
      else resolve(Number(process.hrtime.bigint() - started) / 1e6);
    });
  });
}

const fetchOnce = method === "x509" ? fetchX509Once : fetchJwtOnce;

for (let i = 0; i < warmupCalls; i++) {
  await fetchOnce();
}

const latenciesMs: number[] = [];
const started = process.hrtime.bigint();
for (let i = 0; i < calls; i++) {
  latenciesMs.push(await fetchOnce());
}
const totalMs = Number(process.hrtime.bigint() - started) / 1e6;
client.close();

process.stdout.write(JSON.stringify({ latenciesMs, totalMs }) + "\n");
