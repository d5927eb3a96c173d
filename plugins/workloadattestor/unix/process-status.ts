import { readFileSync } from "node:fs";

/** Credentials of a process as `/proc/<pid>/status` reports them. */
export interface ProcessCredentials {
  /** Effective user ID. */
  uid: number;
  /** Effective group ID. */
  gid: number;
  /** Supplementary group IDs, in the order the kernel lists them. */
  supplementaryGids: number[];
}

/**
 * Reads the effective uid, effective gid and supplementary groups of `pid` from
 * `<procRoot>/<pid>/status`.
 *
 * The `Uid:` and `Gid:` lines hold four values (real, effective, saved set, filesystem),
 * and the effective one is the second. Throws when the process does not exist or the
 * file lacks one of the lines.
 */
export async function readProcessCredentials(pid: number, procRoot = "/proc"): Promise<ProcessCredentials> {
  const path = `${procRoot}/${pid}/status`;

  // A synchronous read on purpose: procfs content comes from kernel memory, so it never
  // waits on a disk, and the thread-pool round trips of an asynchronous read (open, fstat,
  // read, close) cost more than the read itself on every Workload API call.
  let text: string;
  try {
    text = readFileSync(path, "utf8");
  } catch (error) {
    throw new Error(`failed to read ${path}: ${describeReadError(error)}`);
  }

  const fields = parseStatusFields(text);
  return {
    uid: effectiveId(fields, "Uid", path),
    gid: effectiveId(fields, "Gid", path),
    supplementaryGids: parseIdList(fields.get("Groups") ?? "", "Groups", path),
  };
}

/** Splits `Name:\tvalue` lines into a map; later duplicates are ignored. */
function parseStatusFields(text: string): Map<string, string> {
  const fields = new Map<string, string>();

  for (const line of text.split("\n")) {
    const colon = line.indexOf(":");
    if (colon === -1) {
      continue;
    }

    const name = line.slice(0, colon).trim();
    if (!fields.has(name)) {
      fields.set(name, line.slice(colon + 1).trim());
    }
  }

  return fields;
}

function effectiveId(fields: Map<string, string>, name: string, path: string): number {
  const line = fields.get(name);
  if (line === undefined) {
    throw new Error(`failed to parse ${path}: the ${name}: line is missing`);
  }

  const ids = parseIdList(line, name, path);
  // Older or unusual kernels could list a single value; it is then both real and effective.
  const effective = ids.length > 1 ? ids[1] : ids[0];
  if (effective === undefined) {
    throw new Error(`failed to parse ${path}: the ${name}: line has no values`);
  }

  return effective;
}

function parseIdList(text: string, name: string, path: string): number[] {
  if (text === "") {
    return [];
  }

  return text.split(/\s+/).map((word) => {
    if (!/^\d+$/.test(word)) {
      throw new Error(`failed to parse ${path}: ${JSON.stringify(word)} on the ${name}: line is not a numeric ID`);
    }
    return Number(word);
  });
}

/** Turns ENOENT/ESRCH into "process not found", which is what they mean under /proc. */
export function describeReadError(error: unknown): string {
  const code = (error as NodeJS.ErrnoException | undefined)?.code;
  if (code === "ENOENT" || code === "ESRCH") {
    return "process not found (it may have exited)";
  }
  return error instanceof Error ? error.message : String(error);
}
