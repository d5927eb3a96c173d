// PID reuse probe, run as pid 1 of a new PID namespace:
//   unshare --pid --fork --mount-proc node pid-reuse-probe.mjs <folder>
// A client process P connects, hands its connected socket to a child and exits. The probe
// then writes ns_last_pid so that the next process it starts, Q, gets P's pid, and Q
// connects too. It prints one JSON line with what readPeerCredentials reported at each
// step; the calling test makes the assertions.
import { spawn } from "node:child_process";
import { once } from "node:events";
import { writeFileSync } from "node:fs";
import { createServer } from "node:net";
import { join } from "node:path";
import { fileURLToPath } from "node:url";

import { runnerImport } from "vite";

const { module: peerCredentials } = await runnerImport(
  fileURLToPath(new URL("../peer-credentials.ts", import.meta.url)),
  { configFile: false, logLevel: "silent" },
);
const socketPath = join(process.argv[2], "probe.sock");

// Every accepted connection, in order, as its credentials or the error reading them.
const accepted = [];
const acceptedEvents = new EventTarget();
const server = createServer((socket) => {
  try {
    accepted.push({ socket, credentials: peerCredentials.readPeerCredentials(socket) });
  } catch (error) {
    accepted.push({ socket, error: error.message });
  }
  acceptedEvents.dispatchEvent(new Event("accepted"));
});
server.listen(socketPath);
await once(server, "listening");

// P and Q share a pid, so Q's connection is looked up after P's.
async function connectionFrom(pid, firstIndex = 0) {
  for (let index = firstIndex; ; index++) {
    while (accepted.length <= index) {
      await once(acceptedEvents, "accepted");
    }
    if (accepted[index].credentials?.pid === pid) {
      return { ...accepted[index], index };
    }
  }
}

// P connects, then waits for a line on stdin before it passes the socket to a sleeping
// child and exits, so that its credentials are read while it still runs.
const handOffClient = `
  const net = require("node:net");
  const { spawn } = require("node:child_process");
  const socket = net.connect(process.argv[1], () => {
    process.stdin.once("data", () => {
      spawn("sleep", ["1000"], { stdio: ["ignore", "ignore", "ignore", socket] });
      process.exit(0);
    });
  });
`;
const clientP = spawn(process.execPath, ["-e", handOffClient, socketPath], { stdio: ["pipe", "inherit", "inherit"] });
const connectionP = await connectionFrom(clientP.pid);
const credentialsP = connectionP.credentials;
const aliveWhileRunning = credentialsP.isAlive();

let connectionClosed = false;
connectionP.socket.on("close", () => {
  connectionClosed = true;
});
const exitP = once(clientP, "exit");
clientP.stdin.end("go\n");
await exitP;
const aliveAfterExit = credentialsP.isAlive();

// The next pid the kernel hands out is ns_last_pid + 1. Our own threads may take a pid
// in between, so retry a few times.
let clientQ;
for (let attempt = 0; attempt < 20 && clientQ === undefined; attempt++) {
  writeFileSync("/proc/sys/kernel/ns_last_pid", String(clientP.pid - 1));
  const candidate = spawn(process.execPath, [fileURLToPath(new URL("credentials-client.mjs", import.meta.url)), socketPath], {
    // Q prints a connection reset error when the namespace ends, which is expected.
    stdio: "ignore",
  });
  if (candidate.pid === clientP.pid) {
    clientQ = candidate;
  } else {
    candidate.kill("SIGKILL");
    await once(candidate, "exit");
  }
}
if (clientQ === undefined) {
  throw new Error(`failed to start a process with the reused pid ${clientP.pid}`);
}
const credentialsQ = (await connectionFrom(clientQ.pid, connectionP.index + 1)).credentials;

process.stdout.write(
  `${JSON.stringify({
    pidP: clientP.pid,
    credentialsPidP: credentialsP.pid,
    startTimeP: credentialsP.startTime,
    aliveWhileRunning,
    aliveAfterExit,
    connectionOpenAfterExit: !connectionClosed,
    pidQ: clientQ.pid,
    credentialsPidQ: credentialsQ.pid,
    startTimeQ: peerCredentials.readProcessStartTime(clientQ.pid),
    aliveQ: credentialsQ.isAlive(),
    aliveAfterReuse: credentialsP.isAlive(),
  })}\n`,
);

// Exiting as pid 1 makes the kernel kill every process left in the namespace.
process.exit(0);
