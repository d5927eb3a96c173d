import { closeSync, fsyncSync, openSync, readdirSync, renameSync, rmSync, writeSync } from "node:fs";
import { basename, dirname, join } from "node:path";

/**
 * Writes `data` to `path` so that readers see either the old file or the whole new one.
 *
 * The data goes to a temporary file in the same folder (so the rename stays on one file
 * system), is flushed with fsync, and is renamed over `path`; the folder is fsynced too
 * so the rename survives a power loss. `mode` applies to the new file (default 0600,
 * because most callers store keys or credentials). When any step fails, the temporary
 * file is removed and the error is thrown; a crash can leave one behind, which
 * {@link removeStaleTemporaryFiles} deletes.
 */
export function writeFileAtomic(path: string, data: string | Uint8Array, mode = 0o600): void {
  const folder = dirname(path);
  const temporaryPath = join(folder, `${temporaryPrefix(path)}${process.pid}.${Date.now()}.tmp`);

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
    rmSync(temporaryPath, { force: true });
    throw error;
  }
  closeSync(fd);

  try {
    renameSync(temporaryPath, path);
  } catch (error) {
    rmSync(temporaryPath, { force: true });
    throw error;
  }

  const folderFd = openSync(folder, "r");
  try {
    fsyncSync(folderFd);
  } finally {
    closeSync(folderFd);
  }
}

/**
 * Deletes the temporary files that {@link writeFileAtomic} left next to `path` when the
 * process died between creating and renaming one. Call it at start-up, before any write
 * to `path`, because it also removes a file that another process is writing right now.
 * Returns how many files were removed.
 */
export function removeStaleTemporaryFiles(path: string): number {
  const prefix = temporaryPrefix(path);
  let names: string[];
  try {
    names = readdirSync(dirname(path));
  } catch {
    return 0;
  }

  let removed = 0;
  for (const name of names) {
    if (name.startsWith(prefix) && name.endsWith(".tmp")) {
      rmSync(join(dirname(path), name), { force: true });
      removed++;
    }
  }
  return removed;
}

function temporaryPrefix(path: string): string {
  return `.${basename(path)}.`;
}
