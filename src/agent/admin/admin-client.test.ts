import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { createServer } from "node:net";
import type { Server as NetServer, Socket } from "node:net";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";

import { Server, ServerCredentials } from "@grpc/grpc-js";
import { afterEach, beforeEach, describe, expect, it } from "vitest";

import { callLoggerApi, DEFAULT_ADMIN_SOCKET_PATH, fetchDebugInfo, resolveAdminSocketPath, withErrorPrefix } from "./admin-client.js";

let folder: string;

beforeEach(() => {
  folder = mkdtempSync(join(tmpdir(), "tessera-admin-client-"));
});

afterEach(() => {
  rmSync(folder, { recursive: true, force: true });
});

describe("admin API client", () => {
  it("reports a process without the admin services", async () => {
    const socketPath = join(folder, "other.sock");
    const server = new Server();
    await new Promise<void>((done, fail) => server.bindAsync(`unix://${socketPath}`, ServerCredentials.createInsecure(), (error) => (error ? fail(error) : done())));

    try {
      await expect(fetchDebugInfo(socketPath, 5_000)).rejects.toThrow(
        `the process at ${socketPath} does not serve Debug/GetInfo: check that -socketPath names the agent's admin_socket_path`,
      );
    } finally {
      server.forceShutdown();
    }
  });

  it("times out on a silent listener", async () => {
    const socketPath = join(folder, "silent.sock");
    const sockets: Socket[] = [];
    const silent: NetServer = createServer((socket) => sockets.push(socket));
    await new Promise<void>((done) => silent.listen(socketPath, done));

    try {
      await expect(callLoggerApi(socketPath, 300, "GetLogger")).rejects.toThrow(`timed out after 300ms waiting for the agent admin API at ${socketPath}`);
    } finally {
      sockets.forEach((socket) => socket.destroy());
      await new Promise<void>((done) => silent.close(() => done()));
    }
  });

  it("rejects a path that is not a socket", async () => {
    const file = join(folder, "file");
    writeFileSync(file, "");

    await expect(callLoggerApi(file, 1_000, "ResetLogLevel")).rejects.toThrow(`${file} is not a socket: pass the agent's admin_socket_path with -socketPath`);
  });

  it("resolves socket paths", () => {
    expect(resolveAdminSocketPath("")).toBe(DEFAULT_ADMIN_SOCKET_PATH);
    expect(resolveAdminSocketPath("run/admin.sock")).toBe(resolve("run/admin.sock"));
  });

  it("prefixes errors", async () => {
    await expect(withErrorPrefix(() => Promise.reject(new Error("boom")))).rejects.toThrow(/^Error: boom$/);
  });
});
