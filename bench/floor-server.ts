/**
 * Benchmark floor: a bare grpc-js server-streaming FetchX509SVID on a Unix socket that
 * sends a fixed, pre-recorded response. It does what the agent does minus caller
 * credentials, attestation and cache look-up, so the ratio to it shows Tessera's cost.
 *
 * Usage: node floor-server.js SOCKET_PATH RESPONSE_FILE
 * RESPONSE_FILE contains a serialized X509SVIDResponse. Prints "ready" once listening.
 */
import { readFileSync, rmSync } from "node:fs";
import { Server, ServerCredentials } from "@grpc/grpc-js";
import type { ServerWritableStream } from "@grpc/grpc-js";
import { workloadApiService } from "../src/proto/index.js";

const [socketPath, responseFile] = process.argv.slice(2);
if (socketPath === undefined || responseFile === undefined) {
  console.error("usage: floor-server SOCKET_PATH RESPONSE_FILE");
  process.exit(2);
}

const response = workloadApiService.FetchX509SVID.responseDeserialize(readFileSync(responseFile));
const unimplemented = (_call: unknown, callback: (error: Error) => void): void => callback(new Error("not part of the floor"));

const server = new Server();
server.addService(workloadApiService, {
  FetchX509SVID: (call: ServerWritableStream<unknown, unknown>) => {
    call.write(response);
  },
  FetchX509Bundles: unimplemented,
  FetchJWTSVID: unimplemented,
  FetchJWTBundles: unimplemented,
  ValidateJWTSVID: unimplemented,
  FetchWITSVID: unimplemented,
  FetchWITBundles: unimplemented,
} as never);

rmSync(socketPath, { force: true });
server.bindAsync(`unix://${socketPath}`, ServerCredentials.createInsecure(), (error) => {
  if (error) {
    console.error(`floor server failed to listen on ${socketPath}: ${error.message}`);
    process.exit(1);
  }
  console.log("ready");
});

process.on("SIGTERM", () => server.tryShutdown(() => process.exit(0)));
