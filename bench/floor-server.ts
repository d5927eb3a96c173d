/**
 * Benchmark floor: a bare grpc-js Workload API on a Unix socket that replays fixed,
 * pre-recorded responses: FetchX509SVID (server streaming) and FetchJWTSVID (unary). It
 * does what the agent does minus caller credentials, attestation and cache look-up, so
 * the ratio to it shows Tessera's cost.
 *
 * Usage: node floor-server.js SOCKET_PATH X509_RESPONSE_FILE JWT_RESPONSE_FILE
 * The files contain a serialized X509SVIDResponse and JWTSVIDResponse. Prints "ready"
 * once listening.
 */
import { readFileSync, rmSync } from "node:fs";
import { Server, ServerCredentials } from "@grpc/grpc-js";
import type { sendUnaryData, ServerUnaryCall, ServerWritableStream } from "@grpc/grpc-js";
import { workloadApiService } from "../src/proto/index.js";

const [socketPath, x509ResponseFile, jwtResponseFile] = process.argv.slice(2);
if (socketPath === undefined || x509ResponseFile === undefined || jwtResponseFile === undefined) {
  console.error("usage: floor-server SOCKET_PATH X509_RESPONSE_FILE JWT_RESPONSE_FILE");
  process.exit(2);
}

const x509Response = workloadApiService.FetchX509SVID.responseDeserialize(readFileSync(x509ResponseFile));
const jwtResponse = workloadApiService.FetchJWTSVID.responseDeserialize(readFileSync(jwtResponseFile));
const unimplemented = (_call: unknown, callback: (error: Error) => void): void => callback(new Error("not part of the floor"));

const server = new Server();
server.addService(workloadApiService, {
  FetchX509SVID: (call: ServerWritableStream<unknown, unknown>) => {
    call.write(x509Response);
  },
  FetchJWTSVID: (_call: ServerUnaryCall<unknown, unknown>, callback: sendUnaryData<unknown>) => {
    callback(null, jwtResponse);
  },
  FetchX509Bundles: unimplemented,
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
