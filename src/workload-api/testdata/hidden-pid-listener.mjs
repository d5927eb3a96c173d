// Runs listenWorkloadSocket as pid 1 of a new PID namespace:
//   unshare --pid --fork --mount-proc node hidden-pid-listener.mjs <socket path> <log file>
// Clients outside the namespace then have no pid here, so the kernel reports pid 0 for
// them. The listener logs JSON lines to the log file, prints "listening" once it
// accepts connections, and closes and exits when standard input ends.
import { fileURLToPath } from "node:url";

import * as grpc from "@grpc/grpc-js";
import { pino } from "pino";
import { runnerImport } from "vite";

const [socketPath, logPath] = process.argv.slice(2);
const { module: callerListener } = await runnerImport(
  fileURLToPath(new URL("../caller-listener.ts", import.meta.url)),
  { configFile: false, logLevel: "silent" },
);

const logger = pino({ level: "debug" }, pino.destination({ dest: logPath, sync: true }));
const server = new grpc.Server();
const workloadSocket = await callerListener.listenWorkloadSocket(server, { socketPath, logger });
process.stdout.write("listening\n");

process.stdin.resume();
process.stdin.on("end", async () => {
  await workloadSocket.close();
  server.forceShutdown();
  process.exit(0);
});
