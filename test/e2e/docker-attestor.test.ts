/**
 * End to end: a private dockerd (no network, own data folder) runs two busybox
 * containers with different labels, and the docker workload attestor labels each
 * container's process from its cgroups and the Engine API. Needs root, `dockerd` (Debian
 * package docker.io) and a static busybox (busybox-static).
 */
import { spawn, spawnSync } from "node:child_process";
import type { ChildProcess } from "node:child_process";
import { copyFileSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, rmdirSync, symlinkSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import Docker from "dockerode";
import { pino } from "pino";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createDockerAttestor } from "../../plugins/workloadattestor/docker/docker-attestor.js";
import { parseDockerAttestorConfig } from "../../plugins/workloadattestor/docker/docker-config.js";
import type { WorkloadAttestor } from "../../plugins/workloadattestor/workload-attestor.js";

const isRoot = process.getuid?.() === 0;
const BUSYBOX = ["/bin/busybox", "/usr/bin/busybox"].find((path) => isStaticBinary(path));
const hasDockerd = spawnSync("dockerd", ["--version"], { stdio: "ignore" }).status === 0;
const IMAGE = "local/busybox:1";

function isStaticBinary(path: string): boolean {
  if (!existsSync(path)) return false;
  const result = spawnSync("file", ["-L", path], { encoding: "utf8" });
  return result.status === 0 && result.stdout.includes("statically linked");
}

const skipReason = !isRoot
  ? "needs root to run dockerd"
  : !hasDockerd
    ? "needs dockerd (apt-get install docker.io)"
    : BUSYBOX === undefined
      ? "needs a static busybox (apt-get install busybox-static)"
      : undefined;

describe.skipIf(skipReason !== undefined)(`docker attestor with a real dockerd${skipReason === undefined ? "" : ` (skipped: ${skipReason})`}`, () => {
  let folder: string;
  let dockerd: ChildProcess | undefined;
  let docker: Docker;
  let attestor: WorkloadAttestor;
  const containers: { id: string; pid: number }[] = [];

  beforeAll(async () => {
    folder = mkdtempSync(join(tmpdir(), "tessera-docker-e2e-"));
    const socketPath = join(folder, "docker.sock");
    mkdirSync(join(folder, "root"));
    mkdirSync(join(folder, "exec"));

    dockerd = spawn(
      "dockerd",
      [
        "--iptables=false", "--ip6tables=false", "--ip-forward=false", "--ip-masq=false",
        "--bridge=none", "--userland-proxy=false", "--storage-driver=overlay2",
        "--host", `unix://${socketPath}`, "--data-root", join(folder, "root"), "--exec-root", join(folder, "exec"),
        "--pidfile", join(folder, "dockerd.pid"),
      ],
      { stdio: ["ignore", "ignore", "pipe"] },
    );
    const log: string[] = [];
    dockerd.stderr?.on("data", (chunk: Buffer) => log.push(chunk.toString("utf8")));

    docker = new Docker({ socketPath, host: undefined, protocol: "http" });
    await waitForEngine(docker, dockerd, log);
    await importBusybox(docker, join(folder, "image"));

    containers.push(await runContainer(docker, { app: "alpha", team: "blue" }, ["MODE=alpha"]));
    containers.push(await runContainer(docker, { app: "beta" }, ["MODE=beta"]));

    attestor = createDockerAttestor(parseDockerAttestorConfig({ docker_socket_path: `unix://${socketPath}` }), pino({ level: "silent" }));
  }, 120_000);

  afterAll(async () => {
    for (const container of containers) {
      await docker.getContainer(container.id).remove({ force: true }).catch(() => undefined);
    }
    if (dockerd !== undefined && dockerd.exitCode === null) {
      const exited = new Promise((resolve) => dockerd?.once("exit", resolve));
      dockerd.kill("SIGTERM");
      const timer = setTimeout(() => dockerd?.kill("SIGKILL"), 20_000);
      await exited;
      clearTimeout(timer);
    }
    for (const container of containers) removeContainerCgroups(container.id);
    if (folder) rmSync(folder, { recursive: true, force: true });
  }, 60_000);

  it("labels the first container's process", async () => {
    const alpha = containers[0] as { id: string; pid: number };

    const values = await attestor.attest(alpha.pid, new AbortController().signal);

    expect(readFileSync(`/proc/${alpha.pid}/cgroup`, "utf8")).toContain(alpha.id);
    expect(values).toContain("label:app:alpha");
    expect(values).toContain("label:team:blue");
    expect(values).toContain("env:MODE=alpha");
    expect(values).toContain(`image_id:${IMAGE}`);
    expect(values.find((value) => value.startsWith("image_config_digest:"))).toMatch(/^image_config_digest:sha256:[0-9a-f]{64}$/);
    expect(values).not.toContain("label:app:beta");
  });

  it("labels the second container's process", async () => {
    const beta = containers[1] as { id: string; pid: number };

    const values = await attestor.attest(beta.pid, new AbortController().signal);

    expect(values).toContain("label:app:beta");
    expect(values).toContain("env:MODE=beta");
    expect(values).not.toContain("label:app:alpha");
    expect(values).not.toContain("label:team:blue");
  });

  it("gives a host process no selectors", async () => {
    const values = await attestor.attest(process.pid, new AbortController().signal);

    expect(values).toEqual([]);
  });
});

/** Waits until the Engine API responds to a ping, and fails early when dockerd exits. */
async function waitForEngine(docker: Docker, dockerd: ChildProcess, log: string[]): Promise<void> {
  for (let attempt = 0; attempt < 300; attempt++) {
    if (dockerd.exitCode !== null) {
      throw new Error(`dockerd exited with code ${dockerd.exitCode}: ${log.join("").slice(-2000)}`);
    }
    try {
      await docker.ping();
      return;
    } catch {
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
  }
  throw new Error(`dockerd did not respond within 30 s: ${log.join("").slice(-2000)}`);
}

/** Imports a one-binary busybox image from a folder, since there is no registry here. */
async function importBusybox(docker: Docker, root: string): Promise<void> {
  for (const name of ["bin", "proc", "sys", "dev", "tmp", "etc"]) mkdirSync(join(root, name), { recursive: true });
  copyFileSync(BUSYBOX as string, join(root, "bin", "busybox"));
  for (const applet of ["sh", "sleep"]) symlinkSync("busybox", join(root, "bin", applet));

  const tar = spawn("tar", ["-C", root, "-c", "."], { stdio: ["ignore", "pipe", "inherit"] });
  const [repo, tag] = IMAGE.split(":") as [string, string];
  const progress = await docker.importImage(tar.stdout as unknown as string, { repo, tag });
  await new Promise<void>((resolve, reject) => {
    docker.modem.followProgress(progress, (error: Error | null) => (error === null ? resolve() : reject(error)));
  });
}

async function runContainer(docker: Docker, labels: Record<string, string>, env: string[]): Promise<{ id: string; pid: number }> {
  const container = await docker.createContainer({
    Image: IMAGE,
    Cmd: ["sleep", "300"],
    Labels: labels,
    Env: env,
    HostConfig: { NetworkMode: "none" },
  });
  await container.start();

  const info = await container.inspect();
  return { id: info.Id, pid: info.State.Pid };
}

/** Removes cgroup folders that dockerd left for the container, if any. */
function removeContainerCgroups(containerId: string): void {
  for (const hierarchy of ["unified", "pids", "systemd", "memory", "cpu", "cpuacct", "cpuset", "devices", "freezer", "blkio"]) {
    const path = join("/sys/fs/cgroup", hierarchy, "docker", containerId);
    try {
      rmdirSync(path);
    } catch {
      // Already removed by dockerd, which is the usual case.
    }
  }
}
