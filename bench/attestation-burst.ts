/**
 * Memory of tessera-agent while many Workload API callers in pod cgroups attest at
 * once against one kubelet, next to the same burst from callers outside any pod. Used
 * by bench/attestation-bench.ts.
 */
import { spawn } from "node:child_process";
import type { ChildProcess } from "node:child_process";
import { chmodSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { createInterface } from "node:readline";
import { fileURLToPath } from "node:url";
import { prepareAgentAttestation, startAgent } from "../src/devtools/local-deployment.js";
import type { RunningAgent, RunningServer } from "../src/devtools/local-deployment.js";
import { moveIntoCgroup } from "../test/e2e/pod-cgroup.js";
import type { CallerOutcome } from "./attestation-caller.js";
import type { BenchKubelet } from "./attestation-cost.js";

const callerScript = join(dirname(fileURLToPath(import.meta.url)), "attestation-caller.js");

/** Uid of the callers outside any pod, so that only their own entry matches them. */
const HOST_CALLER_UID = 4242;

/** Settings for {@link measureAttestationBurst}. */
export interface AttestationBurstOptions {
  server: RunningServer;
  /** Folder for the agent's files. */
  folder: string;
  trustDomain: string;
  kubelet: BenchKubelet;
  /** The cgroup leaf folders of each pod caller, one entry per caller; the kubelet lists these pods in namespace `namespace`. */
  podCgroups: readonly (readonly string[])[];
  namespace: string;
  /** Number of kubelet requests served so far. */
  kubeletRequests: () => number;
}

/** Peak resident memory of the agent during each burst, in KiB, and what the bursts cost. */
export interface AttestationBurst {
  /** Agent RSS with all callers started and waiting, before the first burst. */
  idleRssKb: number;
  /** Peak agent RSS while the callers outside any pod attest (the k8s attestor returns at once). */
  hostPeakRssKb: number;
  /** Peak agent RSS while the pod callers attest against the kubelet. */
  podPeakRssKb: number;
  hostBurstMs: number;
  podBurstMs: number;
  /** Pod list requests the kubelet served during the pod burst. */
  podBurstKubeletRequests: number;
}

/**
 * Starts a tessera-agent with the k8s and unix workload attestors, and registers one
 * entry for the pod callers (`k8s:ns:<namespace>`) and one for the host callers. Then it
 * runs two bursts of one caller per `podCgroups` entry. The first burst, the floor, comes
 * from callers outside any pod (uid 4242). In the second, each caller is moved into its
 * pod's cgroup. Each caller makes one FetchX509SVID call, and all of a burst's callers
 * are released together.
 *
 * The peak is the agent's `VmHWM`, reset through `/proc/<pid>/clear_refs` before each
 * burst. Throws when a caller does not receive exactly the SVID registered for it.
 */
export async function measureAttestationBurst(options: AttestationBurstOptions): Promise<AttestationBurst> {
  const nodeId = `spiffe://${options.trustDomain}/bench/attestation-node`;
  const podId = `spiffe://${options.trustDomain}/bench/pod-caller`;
  const hostId = `spiffe://${options.trustDomain}/bench/host-caller`;
  mkdirSync(options.folder, { recursive: true });
  const bundlePath = join(options.folder, "bundle.pem");
  const { joinToken } = await prepareAgentAttestation(options.server, nodeId, bundlePath);
  await options.server.cli(["entry", "create", "-parentID", nodeId, "-spiffeID", podId, "-selector", `k8s:ns:${options.namespace}`]);
  await options.server.cli(["entry", "create", "-parentID", nodeId, "-spiffeID", hostId, "-selector", `unix:uid:${HOST_CALLER_UID}`]);

  // The host callers run as another uid, which must reach the socket through every parent folder.
  const socketFolder = mkdtempSync(join(tmpdir(), "tessera-bench-socket-"));
  chmodSync(socketFolder, 0o755);
  const callers: ChildProcess[] = [];
  let agent: RunningAgent | undefined;

  try {
    agent = await startAgent({
      folder: options.folder,
      trustDomain: options.trustDomain,
      serverPort: options.server.port,
      trustBundlePath: bundlePath,
      joinToken,
      socketPath: join(socketFolder, "api.sock"),
      extraPlugins: k8sPluginLines(options.kubelet),
    });
    const agentPid = agent.process.pid as number;
    const socketPath = agent.socketPath;

    const hostCallers = await Promise.all(options.podCgroups.map(() => startCaller(socketPath, HOST_CALLER_UID)));
    const podCallers = await Promise.all(options.podCgroups.map(() => startCaller(socketPath)));
    callers.push(...hostCallers, ...podCallers);
    podCallers.forEach((caller, index) => moveIntoCgroup(caller.pid as number, options.podCgroups[index] as readonly string[]));
    const idleRssKb = readStatusKb(agentPid, "VmRSS");

    const host = await runBurst(agentPid, hostCallers, hostId);
    const requestsBefore = options.kubeletRequests();
    const pod = await runBurst(agentPid, podCallers, podId);

    return {
      idleRssKb,
      hostPeakRssKb: host.peakRssKb,
      podPeakRssKb: pod.peakRssKb,
      hostBurstMs: host.wallMs,
      podBurstMs: pod.wallMs,
      podBurstKubeletRequests: options.kubeletRequests() - requestsBefore,
    };
  } finally {
    for (const caller of callers) caller.kill("SIGKILL");
    await agent?.stop();
    rmSync(socketFolder, { recursive: true, force: true });
  }
}

function k8sPluginLines(kubelet: BenchKubelet): string[] {
  return [
    'WorkloadAttestor "k8s" {',
    "  plugin_data {",
    `    kubelet_secure_port = ${kubelet.port}`,
    `    kubelet_ca_path = "${kubelet.caPath}"`,
    `    token_path = "${kubelet.tokenPath}"`,
    `    node_name = "${kubelet.nodeName}"`,
    "  }",
    "}",
  ];
}

/** Starts one caller process, as `uid` when given, and waits until it is ready to call. */
async function startCaller(socketPath: string, uid?: number): Promise<ChildProcess> {
  const command = [process.execPath, callerScript, socketPath];
  const argv = uid === undefined ? command : ["setpriv", `--reuid=${uid}`, `--regid=${uid}`, "--clear-groups", ...command];
  const caller = spawn(argv[0] as string, argv.slice(1), { stdio: ["pipe", "pipe", "inherit"] });

  await new Promise<void>((resolve, reject) => {
    const lines = createInterface({ input: caller.stdout! });
    lines.once("line", () => {
      lines.close();
      resolve();
    });
    caller.once("exit", (code) => reject(new Error(`attestation caller exited with code ${code} before it was ready`)));
  });
  caller.stdout?.pause();
  return caller;
}

/** Releases every caller at once and waits for their outcomes; returns the agent's peak RSS and the burst's wall time. */
async function runBurst(agentPid: number, callers: readonly ChildProcess[], expectedId: string): Promise<{ peakRssKb: number; wallMs: number }> {
  const outcomes = callers.map((caller) => readOutcome(caller));

  writeFileSync(`/proc/${agentPid}/clear_refs`, "5");
  const started = process.hrtime.bigint();
  for (const caller of callers) caller.stdin?.end("go\n");
  const results = await Promise.all(outcomes);
  const wallMs = Number(process.hrtime.bigint() - started) / 1e6;
  const peakRssKb = readStatusKb(agentPid, "VmHWM");

  const wrong = results.find((result) => result.spiffeIds?.length !== 1 || result.spiffeIds[0] !== expectedId);
  if (wrong !== undefined) {
    throw new Error(`a caller expected only ${expectedId} and received ${JSON.stringify(wrong)}`);
  }
  return { peakRssKb, wallMs };
}

function readOutcome(caller: ChildProcess): Promise<CallerOutcome> {
  return new Promise((resolve, reject) => {
    let output = "";
    caller.stdout?.on("data", (chunk: Buffer) => (output += chunk.toString("utf8")));
    caller.stdout?.resume();
    caller.once("close", (code) => {
      try {
        resolve(JSON.parse(output.trim()) as CallerOutcome);
      } catch {
        reject(new Error(`attestation caller exited with code ${code} and printed ${JSON.stringify(output)}`));
      }
    });
  });
}

function readStatusKb(pid: number, field: string): number {
  const match = new RegExp(`^${field}:\\s+(\\d+) kB$`, "m").exec(readFileSync(`/proc/${pid}/status`, "utf8"));
  if (match === null) {
    throw new Error(`no ${field} line in /proc/${pid}/status`);
  }
  return Number(match[1]);
}
