import type { Logger } from "./log.js";
import { loadNativeAddon } from "./native-addon.js";

/** The `systemd_notify` C addon (native/systemd_notify.c). */
interface SystemdNotifyAddon {
  /** Sends `message` as one datagram to a Unix socket path, or to "@name" in the abstract namespace. */
  notify(socketPath: string, message: string): void;
}

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

  addon = loadNativeAddon<SystemdNotifyAddon>("systemd_notify.node", "systemd notification");
  return addon;
}
