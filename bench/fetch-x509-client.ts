/**
 * Benchmark worker: one Workload API client process that opens `calls` FetchX509SVID
 * streams one after another on one connection, timing each from the request until the
 * first response, and prints the latencies as JSON on standard output.
 *
 * Usage: node fetch-x509-client.js SOCKET_PATH CALLS WARMUP_CALLS
 * The first WARMUP_CALLS calls (connection set-up, JIT warm-up) are not timed.
 */
import { credentials, Metadata } from "@grpc/grpc-js";
import { WorkloadApiClient } from "../src/proto/index.js";

const [socketPath, callsText, warmupText = "0"] = process.argv.slice(2);
if (socketPath === undefined || callsText === undefined) {
  console.error("usage: fetch-x509-client SOCKET_PATH CALLS WARMUP_CALLS");
  process.exit(2);
}
const calls = Number(callsText);
const warmupCalls = Number(warmupText);

const client = new WorkloadApiClient(`unix://${socketPath}`, credentials.createInsecure());
const metadata = new Metadata();
metadata.set("workload.spiffe.io", "true");

function fetchOnce(): Promise<number> {
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
