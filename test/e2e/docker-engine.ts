/**
 * A private Docker engine for end-to-end tests: dockerd with all its state in a test
 * folder, no network set-up, and an image that runs the host's programs from a
 * read-only bind mount of `/usr`, since there is no image registry here.
 */
import { execFile, execFileSync, spawn } from "node:child_process";
import type { ChildProcess } from "node:child_process";
import { closeSync, copyFileSync, mkdirSync, openSync, readdirSync, rmdirSync, symlinkSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { promisify } from "node:util";

const execFileAsync = promisify(execFile);

/** Folders of the host's cgroup hierarchies (v1 controllers and the v2 `unified` mount). */
const CGROUP_ROOT = "/sys/fs/cgroup";

/**
 * Returns why a private dockerd cannot run here, or undefined when it can: it needs root
 * and the `dockerd` and `docker` commands (Debian's docker.io).
 */
export function dockerEngineUnavailableReason(): string | undefined {
  if (process.getuid?.() !== 0) {
    return "needs root to run dockerd";
  }
  for (const command of ["dockerd", "docker"]) {
    try {
      execFileSync("sh", ["-c", `command -v ${command}`], { stdio: "ignore" });
    } catch {
      return `needs ${command} on PATH (apt-get install docker.io)`;
    }
  }
  return undefined;
}

/** A private Docker engine from {@link startDockerEngine}. */
export interface DockerEngine {
  /** Runs the docker CLI against this engine and returns its standard output. */
  docker(args: string[], input?: Buffer): Promise<string>;
  /** Stops dockerd and waits for its exit. */
  stop(): Promise<void>;
}

/**
 * Starts dockerd with all state under `folder` (socket, data root, exec root), no
 * network setup and no bridge, and waits until `docker info` succeeds.
 */
export async function startDockerEngine(folder: string): Promise<DockerEngine> {
  mkdirSync(join(folder, "root"), { recursive: true });
  mkdirSync(join(folder, "exec"), { recursive: true });
  const host = `unix://${join(folder, "docker.sock")}`;
  const log = openSync(join(folder, "dockerd.log"), "a");

  const dockerd = spawn(
    "dockerd",
    [
      "--iptables=false",
      "--ip6tables=false",
      "--ip-forward=false",
      "--ip-masq=false",
      "--bridge=none",
      "--userland-proxy=false",
      "--storage-driver=overlay2",
      `--host=${host}`,
      `--data-root=${join(folder, "root")}`,
      `--exec-root=${join(folder, "exec")}`,
      `--pidfile=${join(folder, "dockerd.pid")}`,
    ],
    { stdio: ["ignore", log, log] },
  );
  closeSync(log);
  const exited = new Promise<void>((resolve) => dockerd.once("exit", () => resolve()));

  const docker = async (args: string[], input?: Buffer): Promise<string> => {
    const child = execFileAsync("docker", args, { env: { ...process.env, DOCKER_HOST: host }, maxBuffer: 16 * 1024 * 1024 });
    if (input !== undefined) {
      child.child.stdin?.end(input);
    }
    return (await child).stdout;
  };

  const engine: DockerEngine = {
    docker,
    stop: async () => {
      if (dockerd.exitCode === null && dockerd.signalCode === null) {
        dockerd.kill("SIGTERM");
        await exited;
      }
    },
  };

  try {
    await waitForDocker(dockerd, docker, folder);
  } catch (error) {
    await engine.stop();
    throw error;
  }
  return engine;
}

async function waitForDocker(dockerd: ChildProcess, docker: DockerEngine["docker"], folder: string): Promise<void> {
  for (;;) {
    if (dockerd.exitCode !== null) {
      throw new Error(`dockerd exited with code ${dockerd.exitCode}; see ${join(folder, "dockerd.log")}`);
    }
    try {
      await docker(["info", "--format", "{{.ServerVersion}}"]);
      return;
    } catch {
      await new Promise((wake) => setTimeout(wake, 200));
    }
  }
}

/**
 * Imports an image named `tag` whose root has only links into `/usr` and a copy of the
 * host's `/etc/passwd` and `/etc/group`. Containers mount the host's `/usr` over it, so
 * they run the host's systemd and node without any image registry.
 */
export async function importHostUsrImage(engine: DockerEngine, folder: string, tag: string): Promise<void> {
  const root = join(folder, "image-root");
  for (const name of ["etc", "proc", "sys", "dev", "tmp", "run", "root", "usr", "var/tmp"]) {
    mkdirSync(join(root, name), { recursive: true });
  }
  for (const name of ["bin", "lib", "lib64", "sbin"]) {
    symlinkSync(`usr/${name}`, join(root, name));
  }
  copyFileSync("/etc/passwd", join(root, "etc", "passwd"));
  copyFileSync("/etc/group", join(root, "etc", "group"));
  // An empty machine-id makes systemd generate a transient one at boot.
  writeFileSync(join(root, "etc", "machine-id"), "");

  const archive = execFileSync("tar", ["-C", root, "-c", "."], { maxBuffer: 16 * 1024 * 1024 });
  await engine.docker(["import", "-", tag], archive);
}


/** Removes `<hierarchy>/<name>` and every folder below it in each cgroup hierarchy, deepest first. */
export function removeCgroupTree(name: string): void {
  for (const hierarchy of readdirSync(CGROUP_ROOT)) {
    removeCgroupFolder(join(CGROUP_ROOT, hierarchy, name));
  }
}

function removeCgroupFolder(path: string): void {
  let entries;
  try {
    entries = readdirSync(path, { withFileTypes: true });
  } catch {
    return;
  }
  for (const entry of entries) {
    if (entry.isDirectory()) {
      removeCgroupFolder(join(path, entry.name));
    }
  }
  try {
    rmdirSync(path);
  } catch {
    // A cgroup that still has processes cannot be removed; the caller killed them first.
  }
}
