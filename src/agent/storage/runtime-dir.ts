import { createHash } from "node:crypto";
import { chmodSync, lstatSync, mkdirSync, statfsSync, statSync } from "node:fs";
import { dirname, join, resolve } from "node:path";

import type { Logger } from "../../common/log.js";

/** Runtime folder used when `runtime_dir` is unset and systemd did not set RUNTIME_DIRECTORY. */
export const DEFAULT_RUNTIME_DIR = "/run/tessera";

/** `f_type` of tmpfs in statfs(2) (linux/magic.h). */
export const TMPFS_MAGIC = 0x01021994;

/** `f_type` of ramfs in statfs(2) (linux/magic.h). */
export const RAMFS_MAGIC = 0x858458f6;

/** Mode of the runtime folder the agent creates. */
const RUNTIME_DIR_MODE = 0o700;

/** The runtime folder chosen from the settings, before any check of it. */
export interface RuntimeDirChoice {
  /** Absolute folder path. */
  path: string;
  /** True when `runtime_dir` named the folder; false for RUNTIME_DIRECTORY or the built-in default. */
  explicit: boolean;
}

/**
 * Chooses the runtime folder from the `runtime_dir` setting. Undefined selects the default:
 * the first path in `$RUNTIME_DIRECTORY` when systemd sets it, else /run/tessera. An empty
 * string turns the runtime cache off, so the result is undefined. Any other value is used
 * as given, resolved against the working directory.
 */
export function chooseRuntimeDir(setting: string | undefined, env: Readonly<Record<string, string | undefined>>): RuntimeDirChoice | undefined {
  if (setting === "") {
    return undefined;
  }
  if (setting !== undefined) {
    return { path: resolve(setting), explicit: true };
  }

  // systemd joins several RuntimeDirectory= folders with ":"; the first is the unit's own.
  const fromSystemd = env.RUNTIME_DIRECTORY?.split(":")[0] ?? "";
  return { path: fromSystemd === "" ? DEFAULT_RUNTIME_DIR : resolve(fromSystemd), explicit: false };
}

/**
 * Tells whether `path`, or the closest folder above it that exists, is on tmpfs or ramfs,
 * so files there vanish at power-off. Returns false when statfs fails.
 */
export function isOnMemoryFileSystem(path: string): boolean {
  let current = resolve(path);
  for (;;) {
    try {
      const type = statfsSync(current).type >>> 0;
      return type === TMPFS_MAGIC >>> 0 || type === RAMFS_MAGIC >>> 0;
    } catch (error) {
      const parent = dirname(current);
      if ((error as NodeJS.ErrnoException).code !== "ENOENT" || parent === current) {
        return false;
      }
      current = parent;
    }
  }
}

/**
 * Resolves and prepares the runtime folder for the agent, logging at most one warning.
 * Returns the folder to use, or undefined when the runtime cache is off:
 * - `runtime_dir = ""` turns it off (info line);
 * - the default folder is used only on tmpfs or ramfs, because the cache contains workload
 *   private keys that must not reach a persistent disk without the operator asking;
 * - a configured folder on a persistent disk is used, with a warning that keys are on disk;
 * - a path that is not a folder (a regular file, say) is skipped with a warning that
 *   explains how to fix runtime_dir;
 * - a folder that cannot be created, belongs to another user or can be written by other
 *   users is skipped with a warning.
 * A missing folder is created with mode 0700; an existing one that passes is set to 0700.
 */
export function prepareRuntimeDir(setting: string | undefined, env: Readonly<Record<string, string | undefined>>, logger: Logger): string | undefined {
  const choice = chooseRuntimeDir(setting, env);
  if (choice === undefined) {
    logger.info('The runtime cache is off (runtime_dir = ""): after a restart the agent serves SVIDs only after its first sync');
    return undefined;
  }

  const onMemory = isOnMemoryFileSystem(choice.path);
  if (!onMemory && !choice.explicit) {
    logger.warn(
      { runtime_dir: choice.path },
      'The runtime cache is off: the default runtime_dir is not on tmpfs or ramfs. Set runtime_dir to a tmpfs folder, or to "" to turn it off without this warning',
    );
    return undefined;
  }

  const notFolder = notAFolderProblem(choice.path);
  if (notFolder !== undefined) {
    logger.warn(
      { runtime_dir: choice.path, problem: notFolder },
      'The runtime cache is off: runtime_dir is not a folder. Point runtime_dir at a folder on tmpfs, or set it to "" to turn the runtime cache off',
    );
    return undefined;
  }

  try {
    mkdirSync(choice.path, { recursive: true, mode: RUNTIME_DIR_MODE });
    checkPrivateFolder(choice.path);
    chmodSync(choice.path, RUNTIME_DIR_MODE);
  } catch (error) {
    logger.warn({ runtime_dir: choice.path, error: (error as Error).message }, "The runtime cache is off: the runtime folder cannot be used");
    return undefined;
  }

  if (!onMemory) {
    logger.warn(
      { runtime_dir: choice.path },
      "runtime_dir is not on tmpfs or ramfs: workload private keys in the runtime cache are stored on a persistent disk",
    );
  }
  return choice.path;
}

/**
 * Returns the runtime cache file for the agent whose data_dir is `dataDir`. The name
 * contains a hash of the absolute data_dir, so agents that share a runtime folder (tests,
 * several agents on one host) never read or overwrite each other's file.
 */
export function runtimeCacheFilePath(runtimeDir: string, dataDir: string): string {
  const digest = createHash("sha256").update(resolve(dataDir)).digest("hex").slice(0, 16);
  return join(runtimeDir, `agent-cache-${digest}.json`);
}

/**
 * Returns why `path` cannot become a folder: it, or the closest path above it that exists,
 * is not a folder. Returns undefined when it is a folder or can be created. A symbolic
 * link at `path` itself counts as not a folder, because the cache must not follow one,
 * while links above it (such as /var/run) are followed.
 */
function notAFolderProblem(path: string): string | undefined {
  let current = path;
  for (;;) {
    try {
      const stats = current === path ? lstatSync(current) : statSync(current);
      if (stats.isDirectory()) {
        return undefined;
      }
      const kind = stats.isSymbolicLink() ? "a symbolic link" : stats.isFile() ? "a regular file" : "not a folder";
      return current === path ? `${path} is ${kind}` : `${current}, above runtime_dir, is ${kind}`;
    } catch (error) {
      // ENOTDIR: a path above `current` is not a folder, which the loop reaches next.
      const code = (error as NodeJS.ErrnoException).code;
      const parent = dirname(current);
      if ((code !== "ENOENT" && code !== "ENOTDIR") || parent === current) {
        return undefined;
      }
      current = parent;
    }
  }
}

function checkPrivateFolder(path: string): void {
  const stats = lstatSync(path);
  if (!stats.isDirectory()) {
    throw new Error(`${path} is not a folder`);
  }

  const uid = process.getuid?.();
  if (uid !== undefined && stats.uid !== uid) {
    throw new Error(`${path} belongs to uid ${stats.uid}, not to the agent's uid ${uid}`);
  }
  if ((stats.mode & 0o022) !== 0) {
    throw new Error(`${path} can be written by other users (mode ${(stats.mode & 0o7777).toString(8)}); use a private folder`);
  }
}
