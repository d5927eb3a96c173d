/**
 * Workload attestation benchmarks for `make bench`: the cost per call of the unix,
 * docker and k8s attestors (bench/attestation-cost.ts), and tessera-agent's memory while
 * many pod callers attest at once (bench/attestation-burst.ts).
 *
 * The kubelet is the HTTPS stand-in of the k8s attestor's tests, listing
 * BENCH_ATTESTATION_PODS pods (default 2000) with two containers each. Pod processes are
 * real processes moved into made-up pod cgroups. The docker figures use a private
 * dockerd. Both need root; without it only the unix figure is measured.
 *
 * Environment: BENCH_ATTESTATION_ITERATIONS (default 2000 timed calls per cheap case; 0
 * skips these benchmarks), BENCH_ATTESTATION_PODS (default 2000), BENCH_ATTESTATION_CALLERS
 * (default 50).
 */
import { spawn } from "node:child_process";
import type { ChildProcess } from "node:child_process";
import { randomBytes, randomUUID } from "node:crypto";
import { mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import type { RunningServer } from "../src/devtools/local-deployment.js";
import { makeKubeletPki, podListJson, startTestKubelet, testPod } from "../plugins/workloadattestor/k8s/test-kubelet.js";
import type { TestKubelet } from "../plugins/workloadattestor/k8s/test-kubelet.js";
import { dockerEngineUnavailableReason, importHostUsrImage, removeCgroupTree, startDockerEngine } from "../test/e2e/docker-engine.js";
import type { DockerEngine } from "../test/e2e/docker-engine.js";
import { createCgroupTracker, moveIntoCgroup, podCgroupPath } from "../test/e2e/pod-cgroup.js";
import { measureAttestationBurst } from "./attestation-burst.js";
import type { AttestationBurst } from "./attestation-burst.js";
import { measureAttestationCost } from "./attestation-cost.js";
import type { AttestationCost, BenchContainer, BenchKubelet } from "./attestation-cost.js";

const iterations = Number(process.env.BENCH_ATTESTATION_ITERATIONS ?? 2000);
const podCount = Number(process.env.BENCH_ATTESTATION_PODS ?? 2000);
const callerCount = Number(process.env.BENCH_ATTESTATION_CALLERS ?? 50);
const namespace = "bench";
const isRoot = process.getuid?.() === 0;
const kubeletToken = "bench-kubelet-token";

/** One printed table: a title, rows of a measured value next to its floor, and notes below it. */
export interface BenchSection {
  title: string;
  rows: { name: string; value: number; floor: number; unit: string }[];
  notes: string[];
}

/** Settings for {@link measureAttestation}. */
export interface AttestationBenchOptions {
  /** A running tessera-server, where the memory benchmark's agent attests and gets its entries. */
  server: RunningServer;
  /** Folder for the kubelet PKI, the Docker engine and the agent. */
  folder: string;
  trustDomain: string;
}

/** Runs the attestation benchmarks and returns their tables, none when skipped. Stops and removes everything it started. */
export async function measureAttestation(options: AttestationBenchOptions): Promise<BenchSection[]> {
  if (iterations === 0) {
    return [];
  }
  mkdirSync(options.folder, { recursive: true });
  const cleanups: (() => Promise<void> | void)[] = [];

  try {
    if (!isRoot) {
      const workload = startSleeper(cleanups);
      const cost = await measureAttestationCost({ pid: workload.pid as number, iterations });
      const section = costSection(cost);
      section.notes.push("k8s, docker and the agent memory burst skipped: they need root for cgroups and dockerd");
      return [section];
    }

    // Clean-ups run in reverse, so the cgroup folders go after the processes in them.
    const cgroups = createCgroupTracker();
    cleanups.push(() => cgroups.removeAll());
    const { kubelet, benchKubelet, podLeaves } = await startBenchKubelet(options.folder, cgroups);
    cleanups.push(() => kubelet.close());
    const workload = startSleeper(cleanups);
    moveIntoCgroup(workload.pid as number, podLeaves[0] as string[]);

    const dockerSkipReason = dockerEngineUnavailableReason();
    const container = dockerSkipReason === undefined ? await startBenchContainer(join(options.folder, "docker"), cleanups) : undefined;
    const cost = await measureAttestationCost({ pid: workload.pid as number, kubelet: benchKubelet, container, iterations });

    const burst = await measureAttestationBurst({
      server: options.server,
      folder: join(options.folder, "agent"),
      trustDomain: options.trustDomain,
      kubelet: benchKubelet,
      podCgroups: podLeaves.slice(1),
      namespace,
      kubeletRequests: () => kubelet.requests.length,
    });

    const section = costSection(cost);
    if (dockerSkipReason !== undefined) section.notes.push(`docker skipped: ${dockerSkipReason}`);
    return [section, burstSection(burst)];
  } finally {
    for (const cleanup of cleanups.reverse()) {
      await cleanup();
    }
  }
}

function costSection(cost: AttestationCost): BenchSection {
  const section: BenchSection = {
    title: `Workload attestation cost per call, attestors called in this process, median of ${iterations} calls (docker: a quarter, k8s fetch: a hundredth)`,
    rows: [{ name: "unix (floor: read cgroup file)", value: cost.unixUs, floor: cost.cgroupReadUs, unit: "µs" }],
    notes: [],
  };

  if (cost.k8s !== undefined) {
    section.rows.push(
      { name: "k8s cached list (floor: same)", value: cost.k8s.cachedUs, floor: cost.cgroupReadUs, unit: "µs" },
      { name: "k8s fetch (floor: GET+parse)", value: cost.k8s.fetchUs / 1000, floor: cost.k8s.podListGetUs / 1000, unit: "ms" },
    );
    section.notes.push(`k8s pod list: ${podCount} pods, ${(cost.k8s.podListBytes / 1e6).toFixed(1)} MB`);
  }
  if (cost.docker !== undefined) {
    section.rows.push({ name: "docker warm (floor: 2 GETs)", value: cost.docker.warmUs, floor: cost.docker.inspectGetsUs, unit: "µs" });
    section.notes.push(`docker first call on the container: ${(cost.docker.firstUs / 1000).toFixed(2)} ms`);
  }
  return section;
}

function burstSection(burst: AttestationBurst): BenchSection {
  return {
    title: `tessera-agent memory, ${callerCount} callers attesting at once against ${podCount} pods (floor: the same burst from callers outside any pod)`,
    rows: [
      { name: "agent peak RSS", value: burst.podPeakRssKb / 1024, floor: burst.hostPeakRssKb / 1024, unit: "MiB" },
      { name: "burst wall time", value: burst.podBurstMs, floor: burst.hostBurstMs, unit: "ms" },
    ],
    notes: [
      `agent RSS before the bursts: ${(burst.idleRssKb / 1024).toFixed(1)} MiB; kubelet pod list requests during the pod burst: ${burst.podBurstKubeletRequests}`,
    ],
  };
}

/**
 * Starts the kubelet stand-in with `podCount` pods. The first `callerCount + 1` pods get
 * cgroup folders for their first container: index 0 for the cost benchmark's process,
 * the others for the memory benchmark's callers.
 */
async function startBenchKubelet(
  folder: string,
  cgroups: ReturnType<typeof createCgroupTracker>,
): Promise<{ kubelet: TestKubelet; benchKubelet: BenchKubelet; podLeaves: string[][] }> {
  const pki = makeKubeletPki(folder, ["IP:127.0.0.1", "DNS:localhost"]);
  const tokenPath = join(folder, "kubelet-token");
  writeFileSync(tokenPath, kubeletToken, { mode: 0o600 });

  const pods: Record<string, unknown>[] = [];
  const podLeaves: string[][] = [];
  for (let index = 0; index < podCount; index++) {
    const uid = randomUUID();
    const containerId = randomBytes(32).toString("hex");
    pods.push(
      testPod({
        uid,
        name: `bench-${index}-${uid.slice(0, 5)}`,
        namespace,
        serviceAccount: `sa-${index % 40}`,
        labels: { app: `app-${index % 40}`, tier: "backend" },
        containers: [
          { name: "app", id: containerId },
          { name: "sidecar", id: randomBytes(32).toString("hex") },
        ],
      }),
    );
    if (index <= callerCount) {
      podLeaves.push(cgroups.create(podCgroupPath("cgroupfs", uid, containerId)));
    }
  }

  const body = podListJson(pods);
  const kubelet = await startTestKubelet({ pki, token: kubeletToken, reply: () => ({ status: 200, body }) });
  return { kubelet, benchKubelet: { port: kubelet.port, caPath: pki.caPath, tokenPath, nodeName: "localhost" }, podLeaves };
}

/** Starts a process that only sleeps, to be attested; it is killed at clean-up. */
function startSleeper(cleanups: (() => Promise<void> | void)[]): ChildProcess {
  const sleeper = spawn("sleep", ["3600"], { stdio: "ignore" });
  cleanups.push(async () => {
    if (sleeper.exitCode === null && sleeper.signalCode === null) {
      sleeper.kill("SIGKILL");
      await new Promise((resolve) => sleeper.once("exit", resolve));
    }
  });
  return sleeper;
}

/** Starts a private dockerd and one long-running container from an image of the host's /usr. */
async function startBenchContainer(folder: string, cleanups: (() => Promise<void> | void)[]): Promise<BenchContainer> {
  const engine: DockerEngine = await startDockerEngine(folder);
  cleanups.push(() => engine.stop());

  const image = `tessera-bench-host-usr:${randomBytes(4).toString("hex")}`;
  await importHostUsrImage(engine, folder, image);
  const id = (await engine.docker(["run", "-d", "--network", "none", "--label", "app=bench", "-v", "/usr:/usr:ro", image, "sleep", "3600"])).trim();
  cleanups.push(async () => {
    await engine.docker(["rm", "-f", id]).catch(() => "");
    removeCgroupTree(join("docker", id));
  });

  const pid = Number((await engine.docker(["inspect", "-f", "{{.State.Pid}}", id])).trim());
  return { socketUrl: `unix://${join(folder, "docker.sock")}`, id, image, pid };
}
