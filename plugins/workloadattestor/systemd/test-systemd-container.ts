import { execFile, execFileSync, spawn } from "node:child_process";
import type { ChildProcess } from "node:child_process";
import { mkdirSync, openSync, closeSync, readdirSync, rmdirSync, statSync, symlinkSync, copyFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { promisify } from "node:util";

const execFileAsync = promisify(execFile);

/** Folders of the host's cgroup hierarchies (v1 controllers and the v2 `unified` mount). */
const CGROUP_ROOT = "/sys/fs/cgroup";

/**
 * Returns why a container booting systemd cannot run here, or undefined when it can:
 * it needs root, `dockerd` (Debian's docker.io) and the host's systemd in /usr.
 */
export function systemdContainerUnavailableReason(): string | undefined {
  if (process.getuid?.() !== 0) {
    return "needs root to run dockerd and a systemd container";
  }
  for (const command of ["dockerd", "docker"]) {
    try {
      execFileSync("sh", ["-c", `command -v ${command}`], { stdio: "ignore" });
    } catch {
      return `needs ${command} on PATH (apt-get install docker.io)`;
    }
  }
  try {
    statSync("/usr/lib/systemd/systemd");
  } catch {
    return "needs /usr/lib/systemd/systemd on the host (apt-get install systemd)";
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

/** A container running systemd as PID 1, from {@link startSystemdContainer}. */
export interface SystemdContainer {
  /** Runs a command in the container and returns its standard output. */
  exec(args: string[]): Promise<string>;
  /** Removes the container and the cgroup folders under its cgroup parent. */
  remove(): Promise<void>;
}

/** Settings for {@link startSystemdContainer}. */
export interface SystemdContainerOptions {
  image: string;
  name: string;
  /** Top-level cgroup folder for this container alone, so clean-up touches nothing else. */
  cgroupParent: string;
  /** Host folders mounted at the same path inside the container. */
  mounts: Array<{ path: string; readOnly: boolean }>;
}

/**
 * Boots `/lib/systemd/systemd` as PID 1 in a container without network, with the host's
 * `/usr` read-only and the capabilities systemd needs (docker's `--privileged` fails on
 * hosts missing a capability in the bounding set), and waits until
 * `systemctl is-system-running --wait` returns.
 */
export async function startSystemdContainer(engine: DockerEngine, options: SystemdContainerOptions): Promise<SystemdContainer> {
  const mountArgs = options.mounts.flatMap((mount) => ["-v", `${mount.path}:${mount.path}:${mount.readOnly ? "ro" : "rw"}`]);
  await engine.docker([
    "run",
    "-d",
    "--name",
    options.name,
    "--network",
    "none",
    "--cap-add",
    "SYS_ADMIN",
    "--cap-add",
    "SYS_PTRACE",
    "--security-opt",
    "seccomp=unconfined",
    "--tmpfs",
    "/run",
    "--tmpfs",
    "/run/lock",
    "--tmpfs",
    "/tmp",
    "-v",
    "/sys/fs/cgroup:/sys/fs/cgroup:rw",
    "--cgroupns=host",
    `--cgroup-parent=/${options.cgroupParent}`,
    "-v",
    "/usr:/usr:ro",
    ...mountArgs,
    "-e",
    "container=docker",
    options.image,
    "/lib/systemd/systemd",
  ]);

  const container: SystemdContainer = {
    exec: (args) => engine.docker(["exec", options.name, ...args]),
    remove: async () => {
      await engine.docker(["rm", "-f", options.name]).catch(() => "");
      removeCgroupTree(options.cgroupParent);
    },
  };

  try {
    await waitForSystemd(container, options.name);
  } catch (error) {
    await container.remove();
    throw error;
  }
  return container;
}

/**
 * Waits until systemd in the container reports `running` or `degraded` (a unit failed,
 * but systemd and its bus are up). Right after `docker run`, systemctl cannot reach
 * systemd yet and fails, so it is retried for up to a minute.
 */
async function waitForSystemd(container: SystemdContainer, name: string): Promise<void> {
  const deadline = Date.now() + 60_000;
  let last = "";

  while (Date.now() < deadline) {
    try {
      last = await container.exec(["systemctl", "is-system-running", "--wait"]);
    } catch (error) {
      const failed = error as { stdout?: string; stderr?: string };
      last = `${failed.stdout ?? ""}${failed.stderr ?? ""}`;
    }
    if (["running", "degraded"].includes(last.trim())) {
      return;
    }
    await new Promise((wake) => setTimeout(wake, 200));
  }
  throw new Error(`systemd in container ${name} did not start within a minute: systemctl is-system-running printed ${JSON.stringify(last)}`);
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
