import { chmodSync, existsSync, mkdirSync } from "node:fs";
import { dirname } from "node:path";
import { ServerCredentials } from "@grpc/grpc-js";
import type { Server } from "@grpc/grpc-js";

import { claimSocketPath } from "../../common/claim-socket-path.js";

/**
 * Binds `server` to the admin Unix socket at `socketPath`.
 *
 * The folder is created with mode 0700 when missing. An existing folder keeps its mode, so
 * a path under /tmp does not change /tmp. The socket gets mode 0600 because every caller
 * there is trusted as an administrator, so only the server's user may connect.
 * A stale socket left by a crashed server is removed. A socket that a running process still
 * serves, or any other file at the path, is an error naming the path.
 */
export async function listenAdminSocket(server: Server, socketPath: string): Promise<void> {
  const folder = dirname(socketPath);
  if (!existsSync(folder)) {
    mkdirSync(folder, { recursive: true, mode: 0o700 });
  }
  await claimSocketPath(socketPath, "the admin API");

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
