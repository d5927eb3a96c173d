import { readFileSync } from "node:fs";
import { CgroupFormatError, CgroupReadError } from "./locator-errors.js";

/** One line of `/proc/<pid>/cgroup`. */
export interface CgroupEntry {
  /** Hierarchy ID; `0` is the cgroup v2 (unified) hierarchy. */
  hierarchyId: string;
  /** Comma-separated controllers, empty for cgroup v2, or `name=systemd` style names. */
  controllers: string;
  /** Path of the cgroup, relative to the reader's cgroup namespace root (it may start with `/..`). */
  path: string;
}

/**
 * Parses the text of `/proc/<pid>/cgroup`. Each line is split on its first two colons
 * only, because the path itself may contain colons (`…slice:cri-containerd:<id>`). The
 * final newline is optional, but any other empty line or one with fewer than two colons
 * raises {@link CgroupFormatError} naming its line number.
 */
export function parseCgroupFile(text: string): CgroupEntry[] {
  const lines = text.split("\n");
  if (lines.at(-1) === "") {
    lines.pop();
  }

  return lines.map((line, index) => {
    const first = line.indexOf(":");
    const second = first === -1 ? -1 : line.indexOf(":", first + 1);
    if (second === -1) {
      throw new CgroupFormatError(
        `invalid cgroup line ${index + 1}: expected "hierarchy-ID:controller-list:path", got ${JSON.stringify(truncate(line))}`,
      );
    }

    return {
      hierarchyId: line.slice(0, first),
      controllers: line.slice(first + 1, second),
      path: line.slice(second + 1),
    };
  });
}

/**
 * Reads and parses `<procRoot>/<pid>/cgroup`. The kernel writes this file, so unlike
 * `/proc/<pid>/mountinfo` the workload cannot forge it from inside its mount namespace.
 * Throws {@link CgroupReadError} when the file cannot be read.
 */
export function readProcessCgroups(pid: number, procRoot = "/proc"): CgroupEntry[] {
  const path = `${procRoot}/${pid}/cgroup`;

  // Synchronous on purpose: procfs content comes from kernel memory and never waits on a
  // disk, so a thread-pool round trip would cost more than the read.
  let text: string;
  try {
    text = readFileSync(path, "utf8");
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    const reason = code === "ENOENT" ? "the process does not exist" : (error as Error).message;
    throw new CgroupReadError(`failed to read ${path}: ${reason}`, { cause: error });
  }

  try {
    return parseCgroupFile(text);
  } catch (error) {
    if (error instanceof CgroupFormatError) {
      throw new CgroupFormatError(`failed to parse ${path}: ${error.message}`, { cause: error });
    }
    throw error;
  }
}

function truncate(line: string): string {
  return line.length > 200 ? `${line.slice(0, 200)}…` : line;
}
