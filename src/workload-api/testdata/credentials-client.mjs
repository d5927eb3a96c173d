// Test client for peer credential tests. It connects to the Unix socket named by its
// first argument and sends its own pid, uid and gid as one JSON line, both on the
// socket and on standard output. It exits when the server sends anything or closes.
import { connect } from "node:net";

const socket = connect(process.argv[2], () => {
  const line = `${JSON.stringify({ pid: process.pid, uid: process.getuid(), gid: process.getgid() })}\n`;
  socket.write(line);
  process.stdout.write(line);
});

socket.on("data", () => process.exit(0));
socket.on("end", () => process.exit(0));
socket.on("error", (error) => {
  process.stderr.write(`credentials client failed: ${error.message}\n`);
  process.exit(1);
});
