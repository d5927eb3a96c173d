import { renameSync } from "node:fs";

/**
 * Raised when a file the agent keeps between restarts (agent-data.json, keys.json) exists
 * and can be read but not used: empty, truncated, not JSON, or with values of the wrong
 * form. `path` is the file and `problem` describes what is wrong with it. The message
 * defaults to "<path> is damaged: <problem>".
 */
export class DamagedFileError extends Error {
  override readonly name = "DamagedFileError";

  constructor(
    readonly path: string,
    readonly problem: string,
    options?: ErrorOptions & { message?: string },
  ) {
    super(options?.message ?? `${path} is damaged: ${problem}`, options);
  }
}

/**
 * Renames a damaged file to `<path>.damaged-<UTC time>` (colons left out, so the name is
 * safe on every file system) and returns the new path. The file is kept, not deleted, so
 * an operator can inspect it.
 */
export function moveDamagedFileAside(path: string, now: Date = new Date()): string {
  const stamp = now.toISOString().replace(/[:.]/g, "").replace(/-/g, "");
  const aside = `${path}.damaged-${stamp}`;
  renameSync(path, aside);
  return aside;
}
