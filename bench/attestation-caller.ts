/**
 * Benchmark worker for bench/attestation-burst.ts: one Workload API caller that waits
 * for a signal, so that many callers can be placed in cgroups first and then call at
 * the same moment.
 *
 * Usage: node attestation-caller.js SOCKET_PATH
 *
 * Prints `ready` once loaded, then waits for a line on standard input. It then opens a
 * FetchX509SVID stream (the connection too is opened only now) and prints one JSON line
 * with the SPIFFE IDs of the first response, or the gRPC status code and details of
 * the error, and exits.
 */
import { createInterface } from "node:readline";
import { credentials, Metadata } from "@grpc/grpc-js";
import type { ServiceError } from "@grpc/grpc-js";
import { WorkloadApiClient } from "../src/proto/index.js";
import type { workload } from "../src/proto/index.js";

/** One caller's outcome, as printed on standard output. */
export interface CallerOutcome {
  spiffeIds?: string[];
  code?: number;
  details?: string;
}

const socketPath = process.argv[2];
if (socketPath === undefined) {
  console.error("usage: attestation-caller SOCKET_PATH");
  process.exit(2);
}

const client = new WorkloadApiClient(`unix://${socketPath}`, credentials.createInsecure());
const metadata = new Metadata();
metadata.set("workload.spiffe.io", "true");

const lines = createInterface({ input: process.stdin });
process.stdout.write("ready\n");
await new Promise((resolve) => lines.once("line", resolve));
lines.close();

const outcome = await new Promise<CallerOutcome>((resolve) => {
  const stream = client.FetchX509SVID({}, metadata);
  stream.once("data", (response: workload.X509SVIDResponse__Output) => {
    resolve({ spiffeIds: response.svids.map((svid) => svid.spiffe_id) });
    stream.cancel();
  });
  stream.once("error", (error: ServiceError) => resolve({ code: error.code, details: error.details }));
});

process.stdout.write(`${JSON.stringify(outcome)}\n`);
client.close();
process.exit(0);
