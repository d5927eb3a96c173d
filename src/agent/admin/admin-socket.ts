import { chmodSync, mkdirSync } from "node:fs";
import { createServer } from "node:net";
import type { Server as NetServer, Socket } from "node:net";
import { dirname } from "node:path";

import * as grpc from "@grpc/grpc-js";

import { claimSocketPath } from "../../common/claim-socket-path.js";
import { createUnixSocketCloser } from "../../common/unix-socket-closer.js";
import type { Logger } from "../../common/log.js";

/** Permission bits of the admin socket file: owner and group may connect, others may not, as in spire-agent. */
export const ADMIN_SOCKET_MODE = 0o770;

/** A listening admin socket. */
export interface AdminSocket {
  /** Stops accepting, closes every open connection and removes the socket file. */
  close(): Promise<void>;
}

/**
 * Serves `server` on the Unix socket `socketPath` with mode {@link ADMIN_SOCKET_MODE}.
 * The parent folder is created (mode 0755) when missing, and a stale socket file is
 * replaced. `server` needs its services added but no `bindAsync`.
 *
 * The socket is created with umask 007, so it never exists with wider permissions, then
 * set to exactly 0770. Connections carry no caller credentials: permission to open the
 * socket is the only access control, as for spire-agent's Debug and Logger APIs.
 */
export async function listenAdminSocket(server: grpc.Server, socketPath: string, logger: Logger): Promise<AdminSocket> {
  mkdirSync(dirname(socketPath), { recursive: true, mode: 0o755 });
  await claimSocketPath(socketPath, "the agent admin API");

  const injector = server.createConnectionInjector(grpc.ServerCredentials.createInsecure());
  const sockets = new Set<Socket>();
  const netServer = createServer((socket) => {
    sockets.add(socket);
    socket.once("close", () => sockets.delete(socket));
    // After injection the HTTP/2 session handles socket errors; this covers the gap before.
    socket.on("error", (error) => logger.debug({ err: error }, "Admin API connection failed"));
    injector.injectConnection(socket);
  });

  try {
    await listenWithPrivateUmask(netServer, socketPath);
    chmodSync(socketPath, ADMIN_SOCKET_MODE);
  } catch (error) {
    netServer.close();
    injector.destroy();
    throw new Error(`failed to serve the agent admin API on ${socketPath}: ${(error as Error).message}`, { cause: error });
  }
  netServer.on("error", (error) => {
    logger.error({ err: error, socket_path: socketPath }, "Admin API socket failed");
  });

  return { close: createUnixSocketCloser(netServer, injector, sockets, socketPath) };
}

/**
 * Listens on `socketPath` with umask 007 in force while the socket file is created.
 * Node binds a Unix socket synchronously inside `listen()`, so the umask is restored before
 * any other code runs. Worker threads cannot change the umask: there the mode is only
 * fixed by the chmod that follows.
 */
function listenWithPrivateUmask(netServer: NetServer, socketPath: string): Promise<void> {
  return new Promise((resolve, reject) => {
    netServer.once("error", reject);

    const previousUmask = setUmask(0o007);
    try {
      netServer.listen(socketPath, () => {
        netServer.off("error", reject);
        resolve();
      });
    } finally {
      if (previousUmask !== undefined) {
        setUmask(previousUmask);
      }
    }
  });
}

/** Sets the process umask and returns the old one, or undefined where Node forbids it (worker threads). */
function setUmask(mask: number): number | undefined {
  try {
    return process.umask(mask);
  } catch {
    return undefined;
  }
}

