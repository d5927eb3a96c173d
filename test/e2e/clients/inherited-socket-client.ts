/**
 * PID-reuse attacker, second half. It waits until GO_FILE exists, then sends a
 * FetchX509SVID request over the connection it inherited as fd 3, which a process that
 * has since exited opened. It writes what came back to RESULT_FILE as JSON
 * `{ grpcStatus, grpcMessage, messageBytes, error }`: messageBytes counts response data,
 * and error is set when the client itself failed.
 *
 * It speaks HTTP/2 directly because gRPC clients cannot adopt an already-connected fd.
 */
import { existsSync, writeFileSync } from "node:fs";
import { connect } from "node:http2";
import type { ClientHttp2Session } from "node:http2";
import { Socket } from "node:net";

const [goFile, resultFile] = process.argv.slice(2);
if (goFile === undefined || resultFile === undefined) {
  process.exit(2);
}

const result = { grpcStatus: "", grpcMessage: "", messageBytes: 0, error: "" };
let session: ClientHttp2Session | undefined;

function finish(): void {
  writeFileSync(resultFile!, JSON.stringify(result));
  session?.destroy();
  process.exit(0);
}

process.on("uncaughtException", (error) => {
  result.error = error.stack ?? error.message;
  finish();
});

const deadline = Date.now() + 60_000;
while (!existsSync(goFile)) {
  if (Date.now() > deadline) {
    result.error = `${goFile} did not appear within 60 s`;
    finish();
  }
  await new Promise((wake) => setTimeout(wake, 20));
}

const socket = new Socket({ fd: 3, readable: true, writable: true });
session = connect("http://localhost", { createConnection: () => socket });
session.on("error", (error) => {
  result.error = `HTTP/2 session failed: ${error.message}`;
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
request.on("close", finish);
request.on("error", (error) => {
  result.error = `request failed: ${error.message}`;
  finish();
});
setTimeout(finish, 20_000);
