import { readFileSync } from "node:fs";
import type { Socket } from "node:net";

import { loadPeerCredentialsAddon } from "./peer-credentials-addon.js";
import type { PeerCredentialsAddon } from "./peer-credentials-addon.js";

/**
 * Kernel-reported identity of the process at the other end of a Unix socket, captured
 * once when the connection is accepted.
 *
 * `pid`, `uid` and `gid` come from SO_PEERCRED and are translated into this process's
 * PID and user namespaces, so a client in a user namespace shows its uid as seen from here.
 */
export interface PeerCredentials {
  readonly pid: number;
  readonly uid: number;
  readonly gid: number;
  /** Start time of the process in clock ticks since boot: field 22 of `/proc/<pid>/stat`. */
  readonly startTime: number;
  /**
   * True while the process that connected is still running: its pidfd has not exited and
   * `/proc/<pid>` shows the same start time. A different process that later receives the
   * same pid does not count. Always false after {@link release}.
   */
  isAlive(): boolean;
  /** Closes the pidfd that pins the process. Call it once, when the connection closes. */
  release(): void;
}

/**
 * Reads the credentials of the client connected to `socket` and pins its process with a
 * pidfd, so that {@link PeerCredentials.isAlive} can tell a reused pid from the original.
 *
 * Call it right after accept. It throws when the kernel reports pid 0 (a client in a PID
 * namespace this process cannot see), when the socket has no descriptor, or when the
 * client has already exited.
 */
export function readPeerCredentials(socket: Socket): PeerCredentials {
  const addon = loadPeerCredentialsAddon();
  const fd = socketFileDescriptor(socket);

  const { pid, uid, gid } = addon.peerCredentials(fd);
  if (pid === 0) {
    throw new Error("peer pid is 0: the client runs in a PID namespace that this process cannot see");
  }

  const pidfd = openPeerPidfd(addon, fd, pid);
  const startTime = readStartTimeOfPinnedProcess(addon, pidfd, pid);

  let released = false;
  return {
    pid,
    uid,
    gid,
    startTime,
    isAlive() {
      if (released || !addon.pidfdIsAlive(pidfd)) {
        return false;
      }
      try {
        return readProcessStartTime(pid) === startTime;
      } catch {
        return false;
      }
    },
    release() {
      if (!released) {
        released = true;
        addon.closeFd(pidfd);
      }
    },
  };
}

/** Errno codes on the peer's /proc entry or pidfd that mean the peer process has exited. */
const PEER_EXITED_CODES: ReadonlySet<string> = new Set(["ENOENT", "ESRCH"]);

/**
 * Returns true when `error`, thrown by {@link readPeerCredentials}, means that the client
 * exited before its credentials were read: ENOENT or ESRCH anywhere in the `cause` chain.
 * Such a client cannot be served anyway, and any local user can cause it at will.
 */
export function peerHasExited(error: unknown): boolean {
  for (let current = error; current instanceof Error; current = current.cause) {
    const code = (current as NodeJS.ErrnoException).code;
    if (code !== undefined && PEER_EXITED_CODES.has(code)) {
      return true;
    }
  }
  return false;
}

/**
 * Reads the start time of process `pid` in clock ticks since boot: field 22 of
 * `/proc/<pid>/stat`. The command name in field 2 may contain spaces and ')', so the
 * fields are counted from the last ')'.
 */
export function readProcessStartTime(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, "latin1");

  const commandEnd = stat.lastIndexOf(")");
  const fields = stat.slice(commandEnd + 1).trim().split(" ");
  // fields[0] is field 3 (state), so field 22 is fields[19].
  const startTime = fields[19];
  if (commandEnd < 0 || startTime === undefined || !/^\d+$/.test(startTime)) {
    throw new Error(`invalid /proc/${pid}/stat: no start time in field 22`);
  }
  return Number(startTime);
}

function socketFileDescriptor(socket: Socket): number {
  // NOTE: `_handle.fd` is undocumented; Node.js 20 sets it to the kernel descriptor of a
  // connected Unix-domain socket.
  const fd = (socket as unknown as { _handle?: { fd?: unknown } })._handle?.fd;
  if (typeof fd !== "number" || fd < 0) {
    throw new Error("socket has no file descriptor; it is closed or not a Unix-domain socket");
  }
  return fd;
}

function openPeerPidfd(addon: PeerCredentialsAddon, fd: number, pid: number): number {
  try {
    return addon.peerPidfd(fd);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== "ENOPROTOOPT") {
      throw new Error(`failed to get a pidfd for peer pid ${pid}: ${(error as Error).message}`, { cause: error });
    }
  }

  // NOTE: Kernels before 6.5 lack SO_PEERPIDFD, so the pidfd is opened by pid after
  // accept. A client that exited before this point, with its pid already reused, is not
  // detected: the pidfd and the start time then both describe the new process.
  try {
    return addon.pidfdOpen(pid);
  } catch (error) {
    throw new Error(`failed to open a pidfd for peer pid ${pid}: ${(error as Error).message}`, { cause: error });
  }
}

function readStartTimeOfPinnedProcess(addon: PeerCredentialsAddon, pidfd: number, pid: number): number {
  try {
    const startTime = readProcessStartTime(pid);

    // While the pidfd's process is running the pid cannot go to anyone else, so a live
    // pidfd after the read proves that the start time belongs to the connecting process.
    if (!addon.pidfdIsAlive(pidfd)) {
      throw Object.assign(new Error("the process has exited"), { code: "ESRCH" });
    }
    return startTime;
  } catch (error) {
    addon.closeFd(pidfd);
    throw new Error(`failed to read the start time of peer pid ${pid}: ${(error as Error).message}`, { cause: error });
  }
}
