import { unlinkSync } from "node:fs";
import type { Server as NetServer, Socket } from "node:net";

/**
 * Returns a `close()` for a gRPC server that serves a Unix socket through a connection
 * injector: it stops accepting, ends the injected connections and every open socket
 * (streams would otherwise keep the server open), and removes the socket file. Repeated
 * calls share one close.
 */
export function createUnixSocketCloser(
  netServer: NetServer,
  injector: { destroy(): void },
  sockets: ReadonlySet<Socket>,
  socketPath: string,
): () => Promise<void> {
  let closing: Promise<void> | undefined;

  const close = async (): Promise<void> => {
    const closed = new Promise<void>((resolve) => netServer.close(() => resolve()));
    injector.destroy();
    for (const socket of sockets) {
      socket.destroy();
    }
    await closed;
    removeSocketFile(socketPath);
  };

  return () => {
    closing ??= close();
    return closing;
  };
}

/** Deletes the socket file; a file that is already gone is fine. Throws with the path otherwise. */
export function removeSocketFile(socketPath: string): void {
  try {
    unlinkSync(socketPath);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== "ENOENT") {
      throw new Error(`failed to remove socket ${socketPath}: ${(error as Error).message}`, { cause: error });
    }
  }
}
