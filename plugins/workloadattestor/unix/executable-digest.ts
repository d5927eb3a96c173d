import { createHash } from "node:crypto";
import { open, readlink } from "node:fs/promises";
import type { FileHandle } from "node:fs/promises";
import { describeReadError } from "./process-status.js";

const CHUNK_SIZE = 64 * 1024;

/**
 * Returns the path of the executable that `pid` runs, as the kernel reports it through
 * the `<procRoot>/<pid>/exe` link.
 *
 * When the file was deleted or replaced after the process started, the kernel appends
 * ` (deleted)` to the path. The value is returned unchanged, so such a process does not
 * match a `path:` selector written for the file now at that path.
 */
export async function readExecutablePath(pid: number, procRoot = "/proc"): Promise<string> {
  const link = `${procRoot}/${pid}/exe`;
  try {
    return await readlink(link);
  } catch (error) {
    throw new Error(`failed to read the executable path of pid ${pid} from ${link}: ${describeReadError(error)}`);
  }
}

/**
 * Computes the SHA-256 of the executable that `pid` runs, as lowercase hex.
 *
 * It opens `<procRoot>/<pid>/exe` rather than the path the link names, so it hashes the
 * file the process really executes even after that path was replaced, and it reaches files
 * inside other mount namespaces (containers). With `sizeLimit > 0`, a file larger than
 * `sizeLimit` bytes is rejected before any byte is read; 0 means no limit.
 */
export async function hashExecutable(
  pid: number,
  sizeLimit: number,
  signal: AbortSignal,
  procRoot = "/proc",
): Promise<string> {
  const link = `${procRoot}/${pid}/exe`;

  let file;
  try {
    file = await open(link, "r");
  } catch (error) {
    throw new Error(`failed to open the executable of pid ${pid} at ${link}: ${describeReadError(error)}`);
  }

  try {
    const { size } = await file.stat();
    if (sizeLimit > 0 && size > sizeLimit) {
      throw new Error(
        `the executable of pid ${pid} is ${size} bytes, larger than workload_size_limit (${sizeLimit} bytes): raise the limit or set it to -1 to skip the sha256 selector`,
      );
    }

    return await hashOpenFile(file, sizeLimit, signal, pid);
  } finally {
    await file.close();
  }
}

async function hashOpenFile(
  file: FileHandle,
  sizeLimit: number,
  signal: AbortSignal,
  pid: number,
): Promise<string> {
  const hash = createHash("sha256");
  const buffer = Buffer.alloc(CHUNK_SIZE);
  let total = 0;

  for (;;) {
    signal.throwIfAborted();

    const { bytesRead } = await file.read(buffer, 0, CHUNK_SIZE, null);
    if (bytesRead === 0) {
      return hash.digest("hex");
    }

    // The file may grow between stat() and the last read; the limit still holds.
    total += bytesRead;
    if (sizeLimit > 0 && total > sizeLimit) {
      throw new Error(`the executable of pid ${pid} grew past workload_size_limit (${sizeLimit} bytes) while it was hashed`);
    }

    hash.update(buffer.subarray(0, bytesRead));
  }
}
