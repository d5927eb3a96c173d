import { existsSync, lstatSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

import { Server } from "@grpc/grpc-js";
import { afterEach, beforeEach, describe, expect, it } from "vitest";

import { captureLogger } from "../../workload-api/test-logger.js";
import { ADMIN_SOCKET_MODE, listenAdminSocket } from "./admin-socket.js";

let folder: string;

beforeEach(() => {
  folder = mkdtempSync(join(tmpdir(), "tessera-admin-socket-"));
});

afterEach(() => {
  rmSync(folder, { recursive: true, force: true });
});

describe("listenAdminSocket", () => {
  it("creates the folder and the socket", async () => {
    const socketPath = join(folder, "private", "admin.sock");
    const server = new Server();

    const socket = await listenAdminSocket(server, socketPath, captureLogger().logger);
    const mode = lstatSync(socketPath).mode & 0o777;
    const folderMode = lstatSync(join(folder, "private")).mode & 0o777;
    await socket.close();
    server.forceShutdown();

    expect(mode).toBe(ADMIN_SOCKET_MODE);
    expect(folderMode & 0o700).toBe(0o700);
    expect(existsSync(socketPath)).toBe(false);
  });

  it("restores the process umask", async () => {
    const before = process.umask();
    const server = new Server();

    const socket = await listenAdminSocket(server, join(folder, "admin.sock"), captureLogger().logger);
    const after = process.umask();
    await socket.close();
    server.forceShutdown();

    expect(after).toBe(before);
  });

  it("leaves a regular file in place", async () => {
    const socketPath = join(folder, "admin.sock");
    writeFileSync(socketPath, "not a socket");

    await expect(listenAdminSocket(new Server(), socketPath, captureLogger().logger)).rejects.toThrow(
      `cannot serve the agent admin API on ${socketPath}: the file exists and is not a socket`,
    );
    expect(readFileSync(socketPath, "utf8")).toBe("not a socket");
  });

  it("closes once when called twice", async () => {
    const server = new Server();
    const socket = await listenAdminSocket(server, join(folder, "admin.sock"), captureLogger().logger);

    await Promise.all([socket.close(), socket.close()]);
    server.forceShutdown();

    expect(existsSync(join(folder, "admin.sock"))).toBe(false);
  });
});
