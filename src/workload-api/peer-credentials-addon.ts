import { existsSync } from "node:fs";
import { createRequire } from "node:module";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

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

const ADDON_FILE = join("build", "Release", "peer_credentials.node");

let addon: PeerCredentialsAddon | undefined;

/**
 * Loads the addon that node-gyp builds into `build/Release/` during `npm install`.
 *
 * The path is resolved from the package root, found by walking up to the nearest
 * package.json, so the same code works from `src/` under vitest and from `dist/src/`
 * after tsc.
 */
export function loadPeerCredentialsAddon(): PeerCredentialsAddon {
  if (addon !== undefined) {
    return addon;
  }

  const addonPath = join(findPackageRoot(), ADDON_FILE);
  const require = createRequire(import.meta.url);
  try {
    addon = require(addonPath) as PeerCredentialsAddon;
  } catch (error) {
    throw new Error(
      `failed to load the peer credentials addon ${addonPath}: ${(error as Error).message}; ` +
        "build it with `npm install` or `node-gyp rebuild --nodedir=/usr`",
      { cause: error },
    );
  }
  return addon;
}

function findPackageRoot(): string {
  const start = dirname(fileURLToPath(import.meta.url));

  for (let directory = start; ; directory = dirname(directory)) {
    if (existsSync(join(directory, "package.json"))) {
      return directory;
    }
    if (dirname(directory) === directory) {
      throw new Error(`failed to find the package root: no package.json above ${start}`);
    }
  }
}
