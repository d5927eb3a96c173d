/**
 * A container that boots systemd as PID 1 on a private Docker engine, for end-to-end
 * tests of the systemd workload attestor against a real system bus.
 */
import { statSync } from "node:fs";
import { dockerEngineUnavailableReason, removeCgroupTree } from "./docker-engine.js";
import type { DockerEngine } from "./docker-engine.js";

/**
 * Returns why a container booting systemd cannot run here, or undefined when it can:
 * it needs what a private dockerd needs and the host's systemd in /usr.
 */
export function systemdContainerUnavailableReason(): string | undefined {
  const engineReason = dockerEngineUnavailableReason();
  if (engineReason !== undefined) {
    return engineReason;
  }
  try {
    statSync("/usr/lib/systemd/systemd");
  } catch {
    return "needs /usr/lib/systemd/systemd on the host (apt-get install systemd)";
  }
  return undefined;
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
