import { spawn, spawnSync } from "node:child_process";
import { once } from "node:events";
import { existsSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { createServer } from "node:net";
import type { Server } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createInterface } from "node:readline";
import { afterEach, beforeEach, describe, expect, it } from "vitest";

import { claimSocketPath } from "./claim-socket-path.js";

let folder: string;
let socketPath: string;
let listeners: Server[];

beforeEach(() => {
  folder = mkdtempSync(join(tmpdir(), "claim-socket-path-"));
  socketPath = join(folder, "api.sock");
  listeners = [];
});

afterEach(async () => {
  for (const listener of listeners) {
    await new Promise((resolve) => listener.close(resolve));
  }
  rmSync(folder, { recursive: true, force: true });
});

async function listenOn(path: string): Promise<Server> {
  const listener = createServer((connection) => connection.destroy());
  listeners.push(listener);
  await new Promise<void>((resolve, reject) => {
    listener.once("error", reject);
    listener.listen(path, resolve);
  });
  return listener;
}

/** Leaves a socket file with no listener behind, as a process killed with SIGKILL does. */
function leaveStaleSocket(path: string): void {
  const stale = spawnSync(process.execPath, [
    "-e",
    "require('node:net').createServer().listen(process.argv[1], () => process.kill(process.pid, 'SIGKILL'))",
    path,
  ]);
  expect(stale.signal).toBe("SIGKILL");
}

describe("claimSocketPath", () => {
  it("accepts a missing file", async () => {
    await claimSocketPath(socketPath, "the Workload API");

    expect(existsSync(socketPath)).toBe(false);
  });

  it("removes a stale socket", async () => {
    leaveStaleSocket(socketPath);
    expect(statSync(socketPath).isSocket()).toBe(true);

    await claimSocketPath(socketPath, "the Workload API");

    expect(existsSync(socketPath)).toBe(false);
  });

  it("rejects a socket in use", async () => {
    await listenOn(socketPath);
    const inode = statSync(socketPath).ino;

    await expect(claimSocketPath(socketPath, "the Workload API")).rejects.toThrow(
      `another process is already serving the Workload API on ${socketPath}: stop it or choose another socket_path`,
    );
    expect(statSync(socketPath).ino).toBe(inode);
  });

  it("keeps a regular file", async () => {
    writeFileSync(socketPath, "not a socket");

    await expect(claimSocketPath(socketPath, "the admin API")).rejects.toThrow(
      `cannot serve the admin API on ${socketPath}: the file exists and is not a socket`,
    );
    expect(readFileSync(socketPath, "utf8")).toBe("not a socket");
  });

  it("keeps a socket it cannot probe", async () => {
    // A stream connect to a datagram socket fails with EPROTOTYPE, which does not
    // show whether a process serves the path.
    const datagram = spawn("/usr/bin/python3", [
      "-c",
      "import socket, sys\ns = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)\ns.bind(sys.argv[1])\nprint('bound', flush=True)\nsys.stdin.read()",
      socketPath,
    ], { stdio: ["pipe", "pipe", "inherit"] });
    try {
      const [line] = (await once(createInterface({ input: datagram.stdout! }), "line")) as [string];
      expect(line).toBe("bound");

      await expect(claimSocketPath(socketPath, "the Workload API")).rejects.toThrow(
        /cannot tell whether another process serves the Workload API on .*: connecting to it failed with .*EPROTOTYPE/,
      );
      expect(statSync(socketPath).isSocket()).toBe(true);
    } finally {
      datagram.stdin!.end();
      await once(datagram, "exit");
    }
  });
});
