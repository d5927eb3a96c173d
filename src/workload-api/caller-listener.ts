import { chmodSync, mkdirSync } from "node:fs";
import { createServer } from "node:net";
import type { Server as NetServer, Socket } from "node:net";
import { dirname } from "node:path";

import * as grpc from "@grpc/grpc-js";

import { claimSocketPath } from "../common/claim-socket-path.js";
import { createUnixSocketCloser } from "../common/unix-socket-closer.js";
import type { Logger } from "../common/log.js";
import { createLogThrottle } from "../common/log-throttle.js";
import type { LogThrottle } from "../common/log-throttle.js";
import { peerHasExited, readPeerCredentials } from "./peer-credentials.js";
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

/** Minimum time between two warnings about rejected connections, because any local user can cause them. */
const REJECTION_WARNING_INTERVAL_MS = 10_000;

/**
 * Serves `server` on a Unix socket whose accepted connections carry kernel-reported
 * caller credentials; handlers read them with {@link callerOf}.
 *
 * Credentials are read once per connection at accept. Connections whose credentials
 * cannot be read, including a pid of 0, are closed. A client that exited before the read
 * is logged at debug level; other failures log at most one warning per 10 s, with the
 * count of warnings dropped since the last one in `suppressed`. `server` needs its
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
  const rejectionWarnings = createLogThrottle(REJECTION_WARNING_INTERVAL_MS);
  const netServer = createServer((socket) => {
    const credentials = acceptConnection(socket, logger, rejectionWarnings);
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

  return { close: createUnixSocketCloser(netServer, injector, sockets, socketPath) };
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
function acceptConnection(socket: Socket, logger: Logger, rejectionWarnings: LogThrottle): PeerCredentials | undefined {
  let credentials: PeerCredentials;
  try {
    credentials = readPeerCredentials(socket);
  } catch (error) {
    socket.destroy();
    logRejectedConnection(error, logger, rejectionWarnings);
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

/**
 * Logs why a connection was rejected. The `error` field carries the message alone: it
 * already names each cause once, and pino's `err` serializer would append the causes again
 * and add stack traces.
 */
function logRejectedConnection(error: unknown, logger: Logger, rejectionWarnings: LogThrottle): void {
  const message = error instanceof Error ? error.message : String(error);
  if (peerHasExited(error)) {
    logger.debug({ error: message }, "Rejected Workload API connection: the client exited before its credentials were read");
    return;
  }

  const admitted = rejectionWarnings.admit();
  if (admitted !== undefined) {
    logger.warn({ error: message, suppressed: admitted.suppressed }, "Rejected Workload API connection: failed to read caller credentials");
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
