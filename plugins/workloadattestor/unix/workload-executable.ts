import type { BigIntStats } from "node:fs";
import { open, readlink, stat } from "node:fs/promises";
import type { FileHandle } from "node:fs/promises";
import type { ExecutableDigestCache } from "./executable-digest-cache.js";
import { checkExecutableSize, hashExecutableFile } from "./executable-digest.js";
import { describeReadError } from "./process-status.js";

/** The executable a process runs, as the `path:` and `sha256:` selectors describe it. */
export interface WorkloadExecutable {
  /**
   * Path from the `<procRoot>/<pid>/exe` link. The kernel appends ` (deleted)` when the
   * file was deleted or replaced after the process started, and that text is kept, so such
   * a process does not match a `path:` selector written for the file now at that path.
   */
  path: string;
  /** Lowercase hex SHA-256 of the file the process runs; absent when not requested. */
  sha256?: string;
}

/** Settings for {@link readWorkloadExecutable}. */
export interface WorkloadExecutableOptions {
  /** Mount point of procfs. */
  procRoot: string;
  /** `workload_size_limit`: negative skips the hash, 0 hashes any size, positive is the maximum size in bytes. */
  sizeLimit: number;
  cache: ExecutableDigestCache;
  signal: AbortSignal;
}

/**
 * Reads the path of the executable that `pid` runs and, unless `sizeLimit < 0`, its
 * SHA-256.
 *
 * Both come from `<procRoot>/<pid>/exe`: the hash is read through that link, so it
 * describes the binary the process really runs even after its path was replaced or
 * deleted, and it reaches binaries inside other mount namespaces (containers). After the
 * path is read, the link must still lead to the opened file (same device and inode). A
 * process that calls exec meanwhile therefore fails the attestation, rather than getting
 * the path of one binary with the digest of another.
 *
 * Needs ptrace read access to the process (root, or CAP_SYS_PTRACE for other users'
 * processes). Digests are looked up in `cache` by the file's identity before any read.
 */
export async function readWorkloadExecutable(pid: number, options: WorkloadExecutableOptions): Promise<WorkloadExecutable> {
  const link = `${options.procRoot}/${pid}/exe`;
  if (options.sizeLimit < 0) {
    return { path: await readExecutablePath(pid, link) };
  }

  const file = await openExecutable(pid, link);
  let fileOwnedByHash = false;
  try {
    const opened = await file.stat({ bigint: true });
    const path = await readExecutablePath(pid, link);
    await checkSameExecutable(pid, link, opened);
    checkExecutableSize(pid, opened.size, options.sizeLimit);

    // The hash runs to the end even when this caller aborts, because other callers may
    // share it through the cache. It closes the file itself once done.
    const digest = options.cache.digest(opened, () => {
      fileOwnedByHash = true;
      return hashExecutableFile(file, options.sizeLimit, pid).finally(() => file.close());
    });
    return { path, sha256: await untilAborted(digest, options.signal) };
  } finally {
    if (!fileOwnedByHash) {
      await file.close();
    }
  }
}

async function readExecutablePath(pid: number, link: string): Promise<string> {
  try {
    return await readlink(link);
  } catch (error) {
    throw new Error(`failed to read the executable path of pid ${pid} from ${link}: ${describeReadError(error)}`);
  }
}

async function openExecutable(pid: number, link: string): Promise<FileHandle> {
  try {
    return await open(link, "r");
  } catch (error) {
    throw new Error(`failed to open the executable of pid ${pid} at ${link}: ${describeReadError(error)}`);
  }
}

async function checkSameExecutable(pid: number, link: string, opened: BigIntStats): Promise<void> {
  let current: BigIntStats;
  try {
    current = await stat(link, { bigint: true });
  } catch (error) {
    throw new Error(`failed to check the executable of pid ${pid} at ${link}: ${describeReadError(error)}`);
  }

  if (current.dev !== opened.dev || current.ino !== opened.ino) {
    throw new Error(`the executable of pid ${pid} changed while it was read (the process called exec); the caller may retry`);
  }
}

/** Resolves or rejects with `work`, or rejects with the abort reason first. */
function untilAborted<T>(work: Promise<T>, signal: AbortSignal): Promise<T> {
  signal.throwIfAborted();
  return new Promise<T>((resolve, reject) => {
    const onAbort = (): void => reject(signal.reason);
    signal.addEventListener("abort", onAbort, { once: true });
    work.then(resolve, reject).finally(() => signal.removeEventListener("abort", onAbort));
  });
}
