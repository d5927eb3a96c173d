/**
 * End to end: a real process sits in a made-up Kubernetes pod cgroup and in its own PID,
 * mount and cgroup namespaces. The k8s workload attestor attests it against an HTTPS
 * kubelet stand-in, for the cgroupfs and the systemd cgroup driver layouts. Needs root,
 * to create cgroups and namespaces.
 */
import { spawn } from "node:child_process";
import type { ChildProcess } from "node:child_process";
import { randomBytes, randomUUID } from "node:crypto";
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { pino } from "pino";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { createK8sAttestor } from "../../plugins/workloadattestor/k8s/k8s-attestor.js";
import { parseK8sAttestorConfig } from "../../plugins/workloadattestor/k8s/k8s-config.js";
import { makeKubeletPki, podListJson, startTestKubelet, testPod } from "../../plugins/workloadattestor/k8s/test-kubelet.js";
import type { KubeletPki, TestKubelet } from "../../plugins/workloadattestor/k8s/test-kubelet.js";
import { createUnixAttestor } from "../../plugins/workloadattestor/unix/unix-attestor.js";
import { parseUnixAttestorConfig } from "../../plugins/workloadattestor/unix/unix-config.js";
import { attestWorkload } from "../../src/workload-api/workload-attestation.js";
import { createCgroupTracker, podCgroupPath } from "./pod-cgroup.js";

const isRoot = process.getuid?.() === 0;
const TOKEN = "e2e-kubelet-token";

describe.skipIf(!isRoot)("k8s attestor on a pod process (skipped unless root: it creates cgroups and namespaces)", () => {
  let folder: string;
  let pki: KubeletPki;
  let tokenPath: string;
  let kubelet: TestKubelet | undefined;
  const children: ChildProcess[] = [];
  /** Processes inside new PID namespaces, which are not children of this process. */
  const innerPids: number[] = [];
  const cgroups = createCgroupTracker();
  const logger = pino({ level: "silent" });

  beforeAll(() => {
    folder = mkdtempSync(join(tmpdir(), "tessera-k8s-e2e-"));
    pki = makeKubeletPki(folder);
    tokenPath = join(folder, "token");
    writeFileSync(tokenPath, TOKEN);
  });

  afterEach(async () => {
    for (const pid of innerPids.splice(0)) {
      try {
        process.kill(pid, "SIGKILL");
      } catch {
        // Already gone with its parent.
      }
    }
    for (const child of children.splice(0)) {
      child.kill("SIGKILL");
      await new Promise((resolve) => (child.exitCode === null && child.signalCode === null ? child.once("exit", resolve) : resolve(null)));
    }
    await kubelet?.close();
    kubelet = undefined;
    await cgroups.removeAll();
  });

  afterAll(() => {
    if (folder) rmSync(folder, { recursive: true, force: true });
  });

  /**
   * Starts a shell, moves it into `leaves`, then lets it exec `unshare` with new PID,
   * mount, cgroup, network, UTS and IPC namespaces, where it records its own view of
   * /proc/self/cgroup and sleeps. Returns the host pid of that sleeping process.
   */
  async function startPodProcess(leaves: string[], innerViewPath: string): Promise<number> {
    const gate = join(folder, `gate-${randomBytes(4).toString("hex")}`);
    const script =
      `while [ ! -e '${gate}' ]; do sleep 0.02; done; ` +
      `exec unshare --pid --fork --kill-child --mount-proc --cgroup --net --uts --ipc sh -c 'cat /proc/self/cgroup > ${innerViewPath}; exec sleep 300'`;
    const child = spawn("sh", ["-c", script], { stdio: "ignore" });
    children.push(child);
    await new Promise<void>((resolve, reject) => {
      child.once("spawn", resolve);
      child.once("error", reject);
    });

    for (const leaf of leaves) {
      writeFileSync(join(leaf, "cgroup.procs"), String(child.pid));
    }
    writeFileSync(gate, "");

    // unshare --fork runs the inner shell as its child; it execs sleep once it wrote its view.
    for (;;) {
      const inner = childPids(child.pid as number)[0];
      if (inner !== undefined && !innerPids.includes(inner)) {
        innerPids.push(inner);
      }
      if (inner !== undefined && existsSync(innerViewPath) && readFileSync(`/proc/${inner}/cmdline`, "utf8").startsWith("sleep")) {
        return inner;
      }
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
  }

  function childPids(pid: number): number[] {
    try {
      return readFileSync(`/proc/${pid}/task/${pid}/children`, "utf8").trim().split(/\s+/).filter(Boolean).map(Number);
    } catch {
      return [];
    }
  }

  for (const driver of ["cgroupfs", "systemd"] as const) {
    it(`attests a pod process with the ${driver} driver`, async () => {
      const podUid = randomUUID();
      const containerId = randomBytes(32).toString("hex");
      const neighbour = testPod({ uid: randomUUID(), name: "db-0", containers: [{ name: "db", id: randomBytes(32).toString("hex") }] });
      const pod = testPod({
        uid: podUid,
        name: "web-6f7c-x2k4p",
        namespace: "shop",
        serviceAccount: "web",
        labels: { app: "web" },
        containers: [{ name: "server", id: containerId, image: "registry.example/web:2.1" }],
      });
      kubelet = await startTestKubelet({ pki, token: TOKEN, reply: () => ({ status: 200, body: podListJson([neighbour, pod]) }) });

      const relative = podCgroupPath(driver, podUid, containerId);
      const innerView = join(folder, `inner-view-${driver}`);
      const pid = await startPodProcess(cgroups.create(relative), innerView);

      const k8s = createK8sAttestor(
        parseK8sAttestorConfig({ kubelet_secure_port: kubelet.port, kubelet_ca_path: pki.caPath, token_path: tokenPath }),
        logger,
        { env: {} },
      );
      const unix = createUnixAttestor(parseUnixAttestorConfig(undefined));
      const selectors = await attestWorkload(pid, { attestors: [unix, k8s], logger });
      const values = selectors.map((selector) => `${selector.type}:${selector.value}`);

      expect(readFileSync(`/proc/${pid}/cgroup`, "utf8")).toContain(`/${relative}`);
      expect(readFileSync(innerView, "utf8")).not.toContain(containerId);
      expect(values).toContain(`k8s:pod-uid:${podUid}`);
      expect(values).toContain("k8s:ns:shop");
      expect(values).toContain("k8s:sa:web");
      expect(values).toContain("k8s:pod-label:app:web");
      expect(values).toContain("k8s:container-name:server");
      expect(values).toContain("k8s:container-image:registry.example/web:2.1");
      expect(values).toContain("unix:uid:0");
      expect(values).not.toContain("k8s:container-name:db");
      expect(kubelet.requests[0]?.authorization).toBe(`Bearer ${TOKEN}`);
    });
  }

  it("gives a host process no k8s selectors", async () => {
    kubelet = await startTestKubelet({ pki, token: TOKEN, reply: () => ({ status: 200, body: podListJson([]) }) });
    const child = spawn("sleep", ["300"], { stdio: "ignore" });
    children.push(child);
    await new Promise((resolve) => child.once("spawn", resolve));

    const k8s = createK8sAttestor(
      parseK8sAttestorConfig({ kubelet_secure_port: kubelet.port, kubelet_ca_path: pki.caPath, token_path: tokenPath }),
      logger,
      { env: {} },
    );
    const values = await k8s.attest(child.pid as number, new AbortController().signal);

    expect(values).toEqual([]);
    expect(kubelet.requests).toEqual([]);
  });
});
