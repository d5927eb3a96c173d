import { createHash } from "node:crypto";
import type { FileHandle } from "node:fs/promises";

const CHUNK_SIZE = 64 * 1024;

/**
 * Computes the SHA-256 of an open executable, as lowercase hex, reading from its start.
 *
 * With `sizeLimit > 0` it fails once more than `sizeLimit` bytes were read, which bounds
 * the work even for a file that grows while it is read; 0 means no limit. The caller
 * checks the size from `stat` first so that an oversized file is rejected before any read.
 */
export async function hashExecutableFile(file: FileHandle, sizeLimit: number, pid: number): Promise<string> {
  const hash = createHash("sha256");
  const buffer = Buffer.alloc(CHUNK_SIZE);
  let total = 0;

  for (;;) {
    const { bytesRead } = await file.read(buffer, 0, CHUNK_SIZE, total);
    if (bytesRead === 0) {
      return hash.digest("hex");
    }

    total += bytesRead;
    if (sizeLimit > 0 && total > sizeLimit) {
      throw new Error(`the executable of pid ${pid} grew past workload_size_limit (${sizeLimit} bytes) while it was hashed`);
    }

    hash.update(buffer.subarray(0, bytesRead));
  }
}

/**
 * Throws when an executable of `size` bytes exceeds `sizeLimit` (when `sizeLimit > 0`),
 * with the fix in the message.
 */
export function checkExecutableSize(pid: number, size: bigint, sizeLimit: number): void {
  if (sizeLimit > 0 && size > BigInt(sizeLimit)) {
    throw new Error(
      `the executable of pid ${pid} is ${size} bytes, larger than workload_size_limit (${sizeLimit} bytes): raise the limit or set it to -1 to skip the sha256 selector`,
    );
  }
}
