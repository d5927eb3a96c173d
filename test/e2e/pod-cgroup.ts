/**
 * Made-up Kubernetes pod cgroups for end-to-end tests and benchmarks: real cgroup folders
 * named as the kubelet names them, into which real processes are moved, so that the
 * agent reads a pod's path from `/proc/<pid>/cgroup`. Needs root.
 */
import { spawn } from "node:child_process";
import type { ChildProcess } from "node:child_process";
import { existsSync, mkdirSync, rmdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";

const CGROUP_ROOT = "/sys/fs/cgroup";

/** The kubelet's cgroup driver, which decides how pod and container cgroups are named. */
export type CgroupDriver = "cgroupfs" | "systemd";

/**
 * Returns the cgroup path, relative to a hierarchy's root, of a pod container as the
 * kubelet names it: `kubepods/besteffort/pod<uid>/<id>` with the cgroupfs driver, and
 * `kubepods.slice/…/kubepods-burstable-pod<uid with underscores>.slice/cri-containerd-<id>.scope`
 * with the systemd driver.
 */
export function podCgroupPath(driver: CgroupDriver, podUid: string, containerId: string): string {
  if (driver === "cgroupfs") {
    return `kubepods/besteffort/pod${podUid}/${containerId}`;
  }
  const slice = `kubepods-burstable-pod${podUid.replaceAll("-", "_")}.slice`;
  return `kubepods.slice/kubepods-burstable.slice/${slice}/cri-containerd-${containerId}.scope`;
}

/** Cgroup folders made by {@link createCgroupTracker}, removed together at the end. */
export interface CgroupTracker {
  /**
   * Creates the missing folders of `relative` in the cgroup v2 hierarchy and in the v1
   * `pids` and `systemd` ones where they are mounted, and returns the leaf folders.
   */
  create(relative: string): string[];
  /**
   * Removes every folder created so far, deepest first. Kill their processes first: a
   * folder stays busy until the kernel has reaped them, which this waits for (about 2 s
   * at most per folder) before it gives up with a warning.
   */
  removeAll(): Promise<void>;
}

/** Returns a tracker that creates cgroup folders and remembers them for removal. */
export function createCgroupTracker(): CgroupTracker {
  const created: string[] = [];

  return {
    create(relative) {
      const leaves: string[] = [];
      for (const hierarchy of hierarchies()) {
        let path = hierarchy;
        for (const segment of relative.split("/")) {
          path = join(path, segment);
          if (!existsSync(path)) {
            mkdirSync(path);
            created.push(path);
          }
        }
        leaves.push(path);
      }
      return leaves;
    },

    async removeAll() {
      for (const path of created.splice(0).reverse()) {
        await removeWhenEmpty(path);
      }
    },
  };
}

function hierarchies(): string[] {
  return ["unified", "pids", "systemd"].map((name) => join(CGROUP_ROOT, name)).filter((path) => existsSync(join(path, "cgroup.procs")));
}

async function removeWhenEmpty(path: string): Promise<void> {
  for (let attempt = 0; ; attempt++) {
    try {
      rmdirSync(path);
      return;
    } catch (error) {
      const code = (error as NodeJS.ErrnoException).code;
      if (code === "ENOENT") return;
      if (code !== "EBUSY" || attempt === 100) {
        console.warn(`could not remove cgroup ${path}: ${(error as Error).message}`);
        return;
      }
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
  }
}

/** Moves the process `pid`, all of its threads, into each of the `leaves` cgroup folders. */
export function moveIntoCgroup(pid: number, leaves: readonly string[]): void {
  for (const leaf of leaves) {
    writeFileSync(join(leaf, "cgroup.procs"), String(pid));
  }
}

/**
 * Starts `command` as a pod's container process would run: inside the cgroup `leaves`
 * and in new PID, mount, cgroup, network, UTS and IPC namespaces, so it sees itself as
 * pid 1 and its cgroup as `/`. A shell is moved into the cgroups first and then execs
 * `unshare`, so no line of `command` runs outside them. Standard output and error are
 * piped, and the exit code of `command` becomes the child's.
 */
export async function spawnInPod(leaves: readonly string[], command: readonly string[]): Promise<ChildProcess> {
  // `read` blocks the shell until the parent has moved it, and `exec` keeps its pid and cgroups.
  const script = 'read -r moved; exec unshare --pid --fork --kill-child --mount-proc --cgroup --net --uts --ipc "$@"';
  const child = spawn("sh", ["-c", script, "sh", ...command], { stdio: ["pipe", "pipe", "pipe"] });
  await new Promise<void>((resolve, reject) => {
    child.once("spawn", resolve);
    child.once("error", reject);
  });

  moveIntoCgroup(child.pid as number, leaves);
  child.stdin?.end("moved\n");
  return child;
}
