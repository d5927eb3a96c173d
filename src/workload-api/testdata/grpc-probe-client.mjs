// Test client for caller-listener tests. It connects with grpc-js to the Unix socket named
// by its first argument and prints "connected". Each line it then reads on standard input
// triggers one call of /test.Probe/WhoAmI, whose reply it prints as one JSON line
// {"pid": <own pid>, "reply": <reply>}. It exits when standard input ends.
import { createInterface } from "node:readline";

import * as grpc from "@grpc/grpc-js";

const identity = (buffer) => buffer;
const client = new grpc.Client(`unix:${process.argv[2]}`, grpc.credentials.createInsecure());

client.waitForReady(Date.now() + 30_000, (error) => {
  if (error) {
    process.stderr.write(`probe client failed to connect: ${error.message}\n`);
    process.exit(1);
  }
  process.stdout.write("connected\n");
});

createInterface({ input: process.stdin })
  .on("line", () => {
    client.makeUnaryRequest("/test.Probe/WhoAmI", identity, identity, Buffer.alloc(0), (error, reply) => {
      if (error) {
        process.stderr.write(`WhoAmI failed: ${error.message}\n`);
        process.exit(1);
      }
      process.stdout.write(`${JSON.stringify({ pid: process.pid, reply: JSON.parse(reply.toString("utf8")) })}\n`);
    });
  })
  .on("close", () => {
    client.close();
    process.exit(0);
  });
