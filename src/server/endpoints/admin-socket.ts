import { chmodSync, existsSync, lstatSync, mkdirSync, unlinkSync } from "node:fs";
import { createConnection } from "node:net";
import { dirname } from "node:path";
import { ServerCredentials } from "@grpc/grpc-js";
import type { Server } from "@grpc/grpc-js";

/**
 * Binds `server` to the admin Unix socket at `socketPath`.
 *
 * The folder is created with mode 0700 when missing. An existing folder keeps its mode, so
 * a path under /tmp does not change /tmp. The socket gets mode 0600 because every caller
 * there is trusted as an administrator, so only the server's user may connect.
 * A stale socket left by a crashed server is removed; a live one, or any other file at the
 * path, is an error naming the path.
 */
export async function listenAdminSocket(server: Server, socketPath: string): Promise<void> {
  const folder = dirname(socketPath);
  if (!existsSync(folder)) {
    mkdirSync(folder, { recursive: true, mode: 0o700 });
  }
  await removeStaleSocket(socketPath);

  await new Promise<void>((resolve, reject) => {
    server.bindAsync(`unix:${socketPath}`, ServerCredentials.createInsecure(), (error) => {
      if (error) {
        reject(new Error(`failed to listen on admin socket ${socketPath}: ${error.message}`, { cause: error }));
        return;
      }
      resolve();
    });
  });
  chmodSync(socketPath, 0o600);
}

async function removeStaleSocket(socketPath: string): Promise<void> {
  let stats;
  try {
    stats = lstatSync(socketPath);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === "ENOENT") return;
    throw error;
  }
  if (!stats.isSocket()) {
    throw new Error(`cannot use ${socketPath} as the admin socket: a file that is not a socket exists there`);
  }

  const inUse = await new Promise<boolean>((resolve) => {
    const probe = createConnection(socketPath);
    probe.once("connect", () => {
      probe.destroy();
      resolve(true);
    });
    probe.once("error", () => resolve(false));
  });
  if (inUse) {
    throw new Error(`cannot listen on admin socket ${socketPath}: another server is already listening there`);
  }
  unlinkSync(socketPath);
}
