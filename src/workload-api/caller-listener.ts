import { chmodSync, mkdirSync, unlinkSync } from "node:fs";
import { createServer } from "node:net";
import type { Server as NetServer, Socket } from "node:net";
import { dirname } from "node:path";

import * as grpc from "@grpc/grpc-js";

import { claimSocketPath } from "../common/claim-socket-path.js";
import type { Logger } from "../common/log.js";
import { readPeerCredentials } from "./peer-credentials.js";
import type { PeerCredentials } from "./peer-credentials.js";

/** Identity of the process that opened the connection a gRPC call arrived on. */
export type CallerCredentials = Omit<PeerCredentials, "release">;

/** Options for {@link listenWorkloadSocket}. */
export interface WorkloadSocketOptions {
  /**
   * Path of the Unix socket. A stale socket file there is removed. A socket that a running
   * process still serves, or any other file, is an error and stays in place.
   */
  socketPath: string;
  /** Permission bits of the socket file. The default, 0o777, lets every local process connect, as spire-agent's public socket does. */
  mode?: number;
  logger: Logger;
}

/** A listening Workload API socket. */
export interface WorkloadSocket {
  /** Stops accepting, closes every open connection and removes the socket file. */
  close(): Promise<void>;
}

/**
 * Connections accepted by every listener in this process, keyed by the peer string that
 * grpc-js reports for calls on them.
 */
const connections = new Map<string, PeerCredentials>();
let nextConnectionNumber = 1;

/**
 * Serves `server` on a Unix socket whose accepted connections carry kernel-reported
 * caller credentials; handlers read them with {@link callerOf}.
 *
 * Credentials are read once per connection at accept. Connections whose credentials
 * cannot be read, including a pid of 0, are closed and logged. `server` needs its
 * services added but no `bindAsync`. Close the returned socket before shutting `server`
 * down, because the listener keeps accepting connections until then.
 */
export async function listenWorkloadSocket(server: grpc.Server, options: WorkloadSocketOptions): Promise<WorkloadSocket> {
  const { socketPath, logger } = options;
  const mode = options.mode ?? 0o777;

  mkdirSync(dirname(socketPath), { recursive: true, mode: 0o755 });
  await claimSocketPath(socketPath, "the Workload API");

  const injector = server.createConnectionInjector(grpc.ServerCredentials.createInsecure());
  const sockets = new Set<Socket>();
  const netServer = createServer((socket) => {
    const credentials = acceptConnection(socket, logger);
    if (credentials === undefined) {
      return;
    }

    sockets.add(socket);
    socket.once("close", () => {
      sockets.delete(socket);
    });
    injector.injectConnection(socket);
  });

  try {
    await listen(netServer, socketPath);
    chmodSync(socketPath, mode);
  } catch (error) {
    netServer.close();
    injector.destroy();
    throw new Error(`failed to serve the Workload API on ${socketPath}: ${(error as Error).message}`, { cause: error });
  }
  netServer.on("error", (error) => {
    logger.error({ err: error, socket_path: socketPath }, "Workload API socket failed");
  });
  logger.info({ socket_path: socketPath }, "Workload API socket listening");

  let closing: Promise<void> | undefined;
  const close = async () => {
    const closed = new Promise<void>((resolve) => netServer.close(() => resolve()));
    injector.destroy();
    for (const socket of sockets) {
      socket.destroy();
    }
    await closed;
    removeSocketFile(socketPath);
  };
  return {
    close() {
      closing ??= close();
      return closing;
    },
  };
}

/**
 * Returns the credentials of the process that opened the connection `call` arrived on,
 * or undefined when the call did not come through {@link listenWorkloadSocket} or its
 * connection has closed.
 *
 * The link depends on grpc-js internals: grpc-js 1.14.7 builds `getPeer()` from the
 * session socket's `remoteAddress` (and appends `:remotePort` only when the port is
 * set, which it never is for a Unix socket). Each accepted socket gets a unique key
 * there. caller-listener.test.ts fails if a grpc-js upgrade breaks this.
 */
export function callerOf(call: { getPeer(): string }): CallerCredentials | undefined {
  let peer: string;
  try {
    peer = call.getPeer();
  } catch {
    // Node.js throws ERR_HTTP2_SOCKET_UNBOUND when the HTTP/2 session has lost its socket.
    return undefined;
  }
  return connections.get(peer);
}

/** Reads and registers the credentials of a new connection, or closes it. */
function acceptConnection(socket: Socket, logger: Logger): PeerCredentials | undefined {
  let credentials: PeerCredentials;
  try {
    credentials = readPeerCredentials(socket);
  } catch (error) {
    logger.warn({ err: error }, "Rejected Workload API connection: failed to read caller credentials");
    socket.destroy();
    return undefined;
  }

  const key = `workload-connection-${nextConnectionNumber++}`;
  Object.defineProperty(socket, "remoteAddress", { value: key, enumerable: true });
  connections.set(key, credentials);
  socket.once("close", () => {
    connections.delete(key);
    credentials.release();
  });
  // After injection the HTTP/2 session handles socket errors; this covers the gap before.
  socket.on("error", (error) => {
    logger.debug({ err: error, pid: credentials.pid }, "Workload API connection failed");
  });

  logger.debug({ pid: credentials.pid, uid: credentials.uid, gid: credentials.gid }, "Accepted Workload API connection");
  return credentials;
}

function removeSocketFile(socketPath: string): void {
  try {
    unlinkSync(socketPath);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== "ENOENT") {
      throw new Error(`failed to remove socket ${socketPath}: ${(error as Error).message}`, { cause: error });
    }
  }
}

function listen(netServer: NetServer, socketPath: string): Promise<void> {
  return new Promise((resolve, reject) => {
    netServer.once("error", reject);
    netServer.listen(socketPath, () => {
      netServer.off("error", reject);
      resolve();
    });
  });
}
