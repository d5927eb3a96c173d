import { lstatSync, unlinkSync } from "node:fs";
import { createConnection } from "node:net";

/**
 * Makes `socketPath` free for a new Unix socket listener: a missing file needs nothing, a
 * stale socket file (connecting to it fails with ECONNREFUSED, so no process listens) is
 * removed, and anything else throws and leaves the file alone.
 *
 * `service` names what the caller serves there ("the Workload API"), for the messages. A
 * socket that accepts the probe connection (or whose backlog is full, EAGAIN) belongs to a
 * running process, so the caller must not take it over. The probe opens and closes one
 * connection, which the running process may log.
 *
 * NOTE: two processes that start at the same moment can both see a stale file. Then both
 * remove it and the first to bind wins, while the second gets EADDRINUSE from listen.
 */
export async function claimSocketPath(socketPath: string, service: string): Promise<void> {
  let isSocket: boolean;
  try {
    isSocket = lstatSync(socketPath).isSocket();
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === "ENOENT") {
      return;
    }
    throw new Error(`failed to inspect ${socketPath}: ${(error as Error).message}`, { cause: error });
  }

  if (!isSocket) {
    throw new Error(`cannot serve ${service} on ${socketPath}: the file exists and is not a socket: remove it or choose another socket_path`);
  }

  const probe = await probeSocket(socketPath);
  if (probe === "listening") {
    throw new Error(`another process is already serving ${service} on ${socketPath}: stop it or choose another socket_path`);
  }
  if (probe !== "stale") {
    throw new Error(
      `cannot tell whether another process serves ${service} on ${socketPath}: connecting to it failed with ${probe.message}. ` +
        "Remove the file if no process serves it",
      { cause: probe },
    );
  }

  try {
    unlinkSync(socketPath);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== "ENOENT") {
      throw new Error(`failed to remove the stale socket ${socketPath}: ${(error as Error).message}`, { cause: error });
    }
  }
}

/** Connects to the socket once: "listening" when a process accepts, "stale" on ECONNREFUSED, else the connect error. */
function probeSocket(socketPath: string): Promise<"listening" | "stale" | Error> {
  return new Promise((resolve) => {
    const connection = createConnection(socketPath);

    connection.once("connect", () => {
      connection.destroy();
      resolve("listening");
    });
    connection.once("error", (error: NodeJS.ErrnoException) => {
      connection.destroy();
      if (error.code === "ECONNREFUSED") {
        resolve("stale");
      } else if (error.code === "EAGAIN") {
        // Linux returns EAGAIN for a Unix socket whose listener has a full accept queue.
        resolve("listening");
      } else {
        resolve(error);
      }
    });
  });
}
