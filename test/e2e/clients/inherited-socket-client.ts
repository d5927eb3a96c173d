/**
 * PID-reuse attacker, second half: waits until GO_FILE exists, then sends a
 * FetchX509SVID request over the connection it inherited as fd 3 (opened by a process
 * that has since exited) and writes what came back to RESULT_FILE as JSON:
 * `{ grpcStatus, grpcMessage, messageBytes }`, where messageBytes counts response data.
 *
 * It speaks HTTP/2 directly because gRPC clients cannot adopt an already-connected fd.
 */
import { existsSync, writeFileSync } from "node:fs";
import { connect } from "node:http2";
import { Socket } from "node:net";

const [goFile, resultFile] = process.argv.slice(2);
if (goFile === undefined || resultFile === undefined) {
  process.exit(2);
}

const deadline = Date.now() + 60_000;
while (!existsSync(goFile)) {
  if (Date.now() > deadline) process.exit(3);
  await new Promise((wake) => setTimeout(wake, 20));
}

const result = { grpcStatus: "", grpcMessage: "", messageBytes: 0 };
const socket = new Socket({ fd: 3, readable: true, writable: true });
const session = connect("http://localhost", { createConnection: () => socket });
session.on("error", () => {
  // A reset by the agent shows up as a missing grpc-status in the result.
});

const request = session.request({
  ":method": "POST",
  ":path": "/SpiffeWorkloadAPI/FetchX509SVID",
  "content-type": "application/grpc",
  te: "trailers",
  "workload.spiffe.io": "true",
});
// One gRPC message frame: not compressed, length 0 (an empty X509SVIDRequest).
request.end(Buffer.from([0, 0, 0, 0, 0]));

const readStatus = (headers: Record<string, unknown>): void => {
  if (headers["grpc-status"] !== undefined) {
    result.grpcStatus = String(headers["grpc-status"]);
    result.grpcMessage = decodeURIComponent(String(headers["grpc-message"] ?? ""));
  }
};
request.on("response", readStatus);
request.on("trailers", readStatus);
request.on("data", (chunk: Buffer) => {
  result.messageBytes += chunk.length;
  // The stream stays open after an SVID arrives, so stop shortly after the first data.
  setTimeout(finish, 300);
});

const finish = (): void => {
  writeFileSync(resultFile, JSON.stringify(result));
  session.destroy();
  process.exit(0);
};
request.on("close", finish);
request.on("error", finish);
setTimeout(finish, 20_000);
