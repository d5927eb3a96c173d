import type { Logger } from "pino";
import type { CgroupEntry } from "./cgroup-file.js";
import { readProcessCgroups } from "./cgroup-file.js";
import { ContainerConflictError } from "./locator-errors.js";

/** The container that a process runs in, as its cgroup paths name it. */
export interface ContainerLocation {
  /** 64 hexadecimal characters, as the container runtime writes it into the cgroup path. */
  containerId: string;
  /** Kubernetes pod UID with dashes (`0f1e…-…`), when a pod segment precedes the container ID. */
  podUid?: string;
}

/** The result of {@link locateProcessContainer} for one process. */
export interface ProcessContainer {
  /** Undefined when no cgroup path names a container: the process runs on the host. */
  location?: ContainerLocation;
  /** The parsed cgroup file, for callers that look for more (the Podman socket owner). */
  cgroups: CgroupEntry[];
}

/** Settings for {@link locateContainer}. */
export interface LocateOptions {
  /**
   * Also look for a pod UID (the `k8s` attestor). A path with a pod UID then wins over
   * paths without one, which picks the innermost pod when a pod runs inside another
   * container (kind nodes are Docker containers).
   */
  withPodUid: boolean;
}

// A container ID is 64 hexadecimal characters between word boundaries. JavaScript's \b,
// without the u flag, treats [A-Za-z0-9_] as word characters, as RE2 does in SPIRE.
const CONTAINER_ID = /\b([0-9A-Fa-f]{64})\b/;

// The kubelet names pod cgroups `pod<uid>`; the systemd driver cannot use dashes there,
// so it writes the UID with underscores.
const POD_UID = /\bpod([0-9A-Fa-f]{8}[-_][0-9A-Fa-f]{4}[-_][0-9A-Fa-f]{4}[-_][0-9A-Fa-f]{4}[-_][0-9A-Fa-f]{12})\b/;

/**
 * Finds the container ID, and optionally the pod UID, in one cgroup path.
 *
 * The path is walked from its last segment towards the first, and the first segment that
 * contains a container ID supplies it. The pod UID search then continues from the text
 * before the ID in that segment (the `…pod<uid>.slice:cri-containerd:<id>` form) and
 * goes on through the earlier segments. An empty segment ends both walks, as in SPIRE.
 * Returns undefined when the path names no container.
 */
export function findContainerInCgroupPath(path: string, options: LocateOptions): ContainerLocation | undefined {
  const segments = path.split("/");

  let index = segments.length - 1;
  let containerId: string | undefined;
  let before = "";
  for (; index >= 0 && segments[index] !== ""; index--) {
    const segment = segments[index] as string;
    const match = CONTAINER_ID.exec(segment);
    if (match !== null) {
      containerId = match[1] as string;
      before = segment.slice(0, match.index);
      break;
    }
  }

  if (containerId === undefined) {
    return undefined;
  }
  if (!options.withPodUid) {
    return { containerId };
  }

  const podUid = findPodUid(before, segments, index - 1);
  return podUid === undefined ? { containerId } : { containerId, podUid };
}

/** Searches `first` (when not empty), then segments[index], segments[index - 1], … for `pod<uid>`. */
function findPodUid(first: string, segments: readonly string[], index: number): string | undefined {
  const candidates = first === "" ? [] : [first];
  for (let i = index; i >= 0 && segments[i] !== ""; i--) {
    candidates.push(segments[i] as string);
  }

  for (const candidate of candidates) {
    const match = POD_UID.exec(candidate);
    if (match !== null) {
      return (match[1] as string).replaceAll("_", "-");
    }
  }
  return undefined;
}

/**
 * Combines the findings of every cgroup line of one process into one location.
 *
 * Lines that name no container are skipped (the unified line of a hybrid host often
 * reads `0::/`). With `withPodUid`, a line with a pod UID replaces what lines without
 * one found, and later lines without a pod UID are then ignored, as SPIRE does for kind
 * nodes. Two different container IDs, or two different pod UIDs, raise
 * {@link ContainerConflictError} instead of a guess.
 */
export function locateContainer(entries: readonly CgroupEntry[], options: LocateOptions): ContainerLocation | undefined {
  let found: ContainerLocation | undefined;

  for (const entry of entries) {
    const candidate = findContainerInCgroupPath(entry.path, options);
    if (candidate === undefined) {
      continue;
    }

    if (found === undefined || (found.podUid === undefined && candidate.podUid !== undefined)) {
      found = candidate;
      continue;
    }
    if (found.podUid !== undefined && candidate.podUid === undefined) {
      continue;
    }

    if (candidate.podUid !== found.podUid) {
      throw new ContainerConflictError(
        `the cgroups of the process name more than one pod UID (${found.podUid}, ${candidate.podUid})`,
      );
    }
    if (candidate.containerId !== found.containerId) {
      throw new ContainerConflictError(
        `the cgroups of the process name more than one container ID (${found.containerId}, ${candidate.containerId})`,
      );
    }
  }

  return found;
}

/** Settings for {@link locateProcessContainer}. */
export interface ProcessLocateOptions extends LocateOptions {
  /** Mount point of procfs; default `/proc`. */
  procRoot?: string;
  /** When set, every cgroup path read is logged at debug level (`verbose_container_locator_logs`). */
  verboseLogger?: Logger;
}

/**
 * Reads `<procRoot>/<pid>/cgroup` and locates the container of `pid` from it alone.
 * `/proc/<pid>/mountinfo` is never consulted, because the workload controls its own
 * mounts and could bind-mount another container's cgroup folder to impersonate it.
 * Throws a {@link ContainerLocatorError} subclass when the file is unreadable or
 * malformed, or when its lines conflict.
 */
export function locateProcessContainer(pid: number, options: ProcessLocateOptions): ProcessContainer {
  const cgroups = readProcessCgroups(pid, options.procRoot);
  options.verboseLogger?.debug({ pid, cgroup_paths: cgroups.map((entry) => entry.path) }, "Read the cgroups of the workload");

  const location = locateContainer(cgroups, options);
  return location === undefined ? { cgroups } : { location, cgroups };
}
