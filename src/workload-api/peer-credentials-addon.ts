import { loadNativeAddon } from "../common/native-addon.js";

/**
 * Functions of the `peer_credentials` C addon (native/peer_credentials.c). Each throws an
 * Error whose `code` is the errno name (`EBADF`, `ESRCH`, ...) when its system call fails.
 */
export interface PeerCredentialsAddon {
  /** SO_PEERCRED of a connected Unix socket: the client's pid, uid and gid at connect(). */
  peerCredentials(socketFd: number): { pid: number; uid: number; gid: number };
  /** SO_PEERPIDFD: a pidfd for the process that called connect(). Throws ENOPROTOOPT before Linux 6.5. */
  peerPidfd(socketFd: number): number;
  /** pidfd_open: a pidfd for whichever process has `pid` at the time of the call. */
  pidfdOpen(pid: number): number;
  /** False once the pidfd's process has exited, zombies included. */
  pidfdIsAlive(pidfd: number): boolean;
  /** Closes a descriptor that this addon returned. */
  closeFd(fd: number): void;
}

let addon: PeerCredentialsAddon | undefined;

/** Loads the addon, which node-gyp builds into `build/Release/` during `npm install`, once. */
export function loadPeerCredentialsAddon(): PeerCredentialsAddon {
  if (addon !== undefined) {
    return addon;
  }

  addon = loadNativeAddon<PeerCredentialsAddon>("peer_credentials.node", "peer credentials");
  return addon;
}
