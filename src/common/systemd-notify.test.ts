import { spawn } from "node:child_process";
import { randomBytes } from "node:crypto";
import { existsSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createInterface } from "node:readline";
import { afterEach, beforeEach, describe, expect, it } from "vitest";

import { captureLogger } from "../workload-api/test-logger.js";
import { notifySystemd } from "./systemd-notify.js";

// Node cannot receive on a Unix datagram socket either, so Debian's Python plays systemd:
// it binds the socket, requests the sender's credentials from the kernel (SO_PASSCRED) as
// systemd does, and prints the first datagram with the sender's pid as JSON.
const RECEIVER = `
import json, socket, struct, sys
path = sys.argv[1]
address = "\\0" + path[1:] if path.startswith("@") else path
receiver = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
receiver.setsockopt(socket.SOL_SOCKET, socket.SO_PASSCRED, 1)
receiver.bind(address)
receiver.settimeout(60)
print("listening", flush=True)
data, ancillary, _, _ = receiver.recvmsg(4096, socket.CMSG_SPACE(12))
pid = next(struct.unpack("iII", body)[0] for level, kind, body in ancillary if kind == socket.SCM_CREDENTIALS)
print(json.dumps({"message": data.decode(), "pid": pid}), flush=True)
`;

const python = "/usr/bin/python3";
const skipReason = existsSync(python) ? undefined : `needs ${python} to receive datagrams`;

interface Received {
  message: string;
  pid: number;
}

/**
 * Starts the Python receiver on `socketPath`. The datagram is wrapped in an object because
 * an async function that returned the promise itself would wait for the datagram.
 */
async function startReceiver(socketPath: string): Promise<{ datagram: Promise<Received> }> {
  const child = spawn(python, ["-c", RECEIVER, socketPath], { stdio: ["ignore", "pipe", "inherit"] });
  const lines = createInterface({ input: child.stdout })[Symbol.asyncIterator]();

  const first = await lines.next();
  if (first.value !== "listening") {
    child.kill();
    throw new Error(`the datagram receiver did not start: it printed ${JSON.stringify(first.value)}`);
  }
  const datagram = lines.next().then((line) => {
    child.kill();
    return JSON.parse(String(line.value)) as Received;
  });
  return { datagram };
}

describe.skipIf(skipReason !== undefined)("notifySystemd", () => {
  let folder: string;

  beforeEach(() => {
    folder = mkdtempSync(join(tmpdir(), "tessera-notify-"));
  });

  afterEach(() => {
    rmSync(folder, { recursive: true, force: true });
  });

  it("does nothing without NOTIFY_SOCKET", () => {
    const captured = captureLogger();

    const sent = notifySystemd("READY=1", captured.logger, {});

    expect(sent).toBe(false);
    expect(captured.lines).toEqual([]);
  });

  it("sends the state from this process", async () => {
    const socketPath = join(folder, "notify.sock");
    const receiver = await startReceiver(socketPath);
    const captured = captureLogger();

    const sent = notifySystemd("READY=1\nSTATUS=Serving", captured.logger, { NOTIFY_SOCKET: socketPath });

    expect(sent).toBe(true);
    expect(await receiver.datagram).toEqual({ message: "READY=1\nSTATUS=Serving", pid: process.pid });
  });

  it("sends to an abstract socket name", async () => {
    const socketName = `@tessera-notify-${randomBytes(6).toString("hex")}`;
    const receiver = await startReceiver(socketName);
    const captured = captureLogger();

    const sent = notifySystemd("STOPPING=1", captured.logger, { NOTIFY_SOCKET: socketName });

    expect(sent).toBe(true);
    expect((await receiver.datagram).message).toBe("STOPPING=1");
  });

  it("logs a socket without a receiver", () => {
    const socketPath = join(folder, "missing.sock");
    const captured = captureLogger();

    const sent = notifySystemd("READY=1", captured.logger, { NOTIFY_SOCKET: socketPath });

    expect(sent).toBe(false);
    expect(captured.lines).toHaveLength(1);
    expect(captured.lines[0]).toMatchObject({ level: 40, msg: "Failed to notify systemd", notify_socket: socketPath, state: "READY=1" });
    expect(captured.lines[0]?.error).toContain("sendto(NOTIFY_SOCKET) failed: No such file or directory");
  });

  it("logs a relative socket path", () => {
    const captured = captureLogger();

    const sent = notifySystemd("READY=1", captured.logger, { NOTIFY_SOCKET: "notify.sock" });

    expect(sent).toBe(false);
    expect(captured.lines[0]?.error).toBe("expected the socket path to be an absolute path or to start with @");
  });
});
