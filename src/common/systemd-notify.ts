import { existsSync } from "node:fs";
import { createRequire } from "node:module";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

import type { Logger } from "./log.js";

/** The `systemd_notify` C addon (native/systemd_notify.c). */
interface SystemdNotifyAddon {
  /** Sends `message` as one datagram to a Unix socket path, or to "@name" in the abstract namespace. */
  notify(socketPath: string, message: string): void;
}

const ADDON_FILE = join("build", "Release", "systemd_notify.node");

let addon: SystemdNotifyAddon | undefined;

/**
 * Sends `state` (lines such as "READY=1", "STOPPING=1" or "STATUS=...") to systemd when the
 * process runs in a unit of Type=notify, that is when `$NOTIFY_SOCKET` is set. Returns true
 * once the message was sent, and false when there is no NOTIFY_SOCKET or sending failed.
 *
 * A failure is logged and never thrown, because the daemon must keep serving. systemd
 * then treats the unit as not ready and fails it after TimeoutStartSec=. The message must
 * come from the unit's main process (NotifyAccess=main), so call this from the daemon
 * itself, never from a child process.
 */
export function notifySystemd(state: string, logger: Logger, env: NodeJS.ProcessEnv = process.env): boolean {
  const socketPath = env.NOTIFY_SOCKET;
  if (socketPath === undefined || socketPath === "") {
    return false;
  }

  try {
    loadAddon().notify(socketPath, state);
  } catch (error) {
    logger.warn({ notify_socket: socketPath, state, error: (error as Error).message }, "Failed to notify systemd");
    return false;
  }

  logger.debug({ notify_socket: socketPath, state }, "Notified systemd");
  return true;
}

/** Loads the addon that node-gyp builds into `build/Release/` of the package root. */
function loadAddon(): SystemdNotifyAddon {
  if (addon !== undefined) {
    return addon;
  }

  const addonPath = join(findPackageRoot(), ADDON_FILE);
  try {
    addon = createRequire(import.meta.url)(addonPath) as SystemdNotifyAddon;
  } catch (error) {
    throw new Error(
      `failed to load the systemd notification addon ${addonPath}: ${(error as Error).message}; ` +
        "build it with `npm install` or `node-gyp rebuild --nodedir=/usr`",
      { cause: error },
    );
  }
  return addon;
}

/** Finds the nearest folder above this file with a package.json: the repository, or the installed copy. */
function findPackageRoot(): string {
  const start = dirname(fileURLToPath(import.meta.url));

  for (let directory = start; dirname(directory) !== directory; directory = dirname(directory)) {
    if (existsSync(join(directory, "package.json"))) {
      return directory;
    }
  }
  throw new Error(`failed to find the package root: no package.json above ${start}`);
}
