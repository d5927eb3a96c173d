import { closeSync, fsyncSync, openSync, renameSync, unlinkSync, writeSync } from "node:fs";
import { dirname, basename, join } from "node:path";

/**
 * Writes `data` to `path` so that readers see either the old file or the whole new one.
 *
 * The data goes to a temporary file in the same folder (so the rename stays on one file
 * system), is flushed with fsync, and is renamed over `path`; the folder is fsynced too
 * so the rename survives a power loss. `mode` applies to the new file (default 0600,
 * because most callers store keys or credentials).
 */
export function writeFileAtomic(path: string, data: string | Uint8Array, mode = 0o600): void {
  const folder = dirname(path);
  const temporaryPath = join(folder, `.${basename(path)}.${process.pid}.${Date.now()}.tmp`);

  const fd = openSync(temporaryPath, "wx", mode);
  try {
    const bytes = typeof data === "string" ? Buffer.from(data) : data;
    let offset = 0;
    while (offset < bytes.length) {
      offset += writeSync(fd, bytes, offset, bytes.length - offset);
    }
    fsyncSync(fd);
  } catch (error) {
    closeSync(fd);
    unlinkSync(temporaryPath);
    throw error;
  }
  closeSync(fd);

  renameSync(temporaryPath, path);

  const folderFd = openSync(folder, "r");
  try {
    fsyncSync(folderFd);
  } finally {
    closeSync(folderFd);
  }
}
