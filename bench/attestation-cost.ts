/**
 * Cost of one workload attestation call, with the attestors called directly in this
 * process (no agent, no gRPC), each timed over many sequential calls. Used by
 * bench/attestation-bench.ts.
 */
import { readFileSync } from "node:fs";
import { request as httpRequest } from "node:http";
import { request as httpsRequest } from "node:https";
import { pino } from "pino";
import { createDockerAttestor } from "../plugins/workloadattestor/docker/docker-attestor.js";
import { parseDockerAttestorConfig } from "../plugins/workloadattestor/docker/docker-config.js";
import { createK8sAttestor } from "../plugins/workloadattestor/k8s/k8s-attestor.js";
import { parseK8sAttestorConfig } from "../plugins/workloadattestor/k8s/k8s-config.js";
import { createUnixAttestor } from "../plugins/workloadattestor/unix/unix-attestor.js";
import { parseUnixAttestorConfig } from "../plugins/workloadattestor/unix/unix-config.js";
import type { WorkloadAttestor } from "../plugins/workloadattestor/workload-attestor.js";

/** A kubelet stand-in and the files the k8s attestor needs to reach it. */
export interface BenchKubelet {
  port: number;
  caPath: string;
  tokenPath: string;
  /** Host name in the kubelet's serving certificate that resolves to 127.0.0.1. */
  nodeName: string;
}

/** A running container to attest, and the socket of the Docker Engine that runs it. */
export interface BenchContainer {
  /** `unix://` URL of the Docker Engine socket. */
  socketUrl: string;
  id: string;
  /** Image reference the container was created from. */
  image: string;
  /** Host pid of the container's main process. */
  pid: number;
}

/** Settings for {@link measureAttestationCost}. */
export interface AttestationCostOptions {
  /** The process to attest; for the k8s figures, one in a pod cgroup whose pod and container the kubelet lists. */
  pid: number;
  /** Left out when no pod cgroup can be made (without root). */
  kubelet?: BenchKubelet;
  /** Left out when no Docker engine can run. */
  container?: BenchContainer;
  /** Timed calls per cheap case; the k8s calls that fetch use a hundredth (at least 10), docker a quarter (at least 50). */
  iterations: number;
}

/** Median time of one call per case, in microseconds. */
export interface AttestationCost {
  /** Reading `/proc/<pid>/cgroup` once: the first step of the docker and k8s attestors. */
  cgroupReadUs: number;
  unixUs: number;
  k8s?: {
    /** Calls while the pod list is cached (`poll_retry_interval` not yet elapsed). */
    cachedUs: number;
    /** Calls that fetch and parse the kubelet's pod list every time. */
    fetchUs: number;
    /** Floor of `fetchUs`: one HTTPS GET of the same pod list and `JSON.parse`, nothing else. */
    podListGetUs: number;
    /** Size of the kubelet's pod list response. */
    podListBytes: number;
  };
  docker?: {
    /** The attestor's first call, on a container it has not inspected before. */
    firstUs: number;
    /** Later calls on the same container. */
    warmUs: number;
    /** Floor of `warmUs`: the container and image inspect GETs over the Engine socket, nothing else. */
    inspectGetsUs: number;
  };
}

const silent = pino({ level: "silent" });

/**
 * Measures each attestor's cost per call for `pid`, and for the container when given,
 * after untimed warm-up calls, and returns the medians.
 */
export async function measureAttestationCost(options: AttestationCostOptions): Promise<AttestationCost> {
  const { pid, iterations } = options;
  const signal = new AbortController().signal;

  const cgroupReadUs = await medianMicros(iterations, () => readFileSync(`/proc/${pid}/cgroup`, "utf8"));
  const unix = createUnixAttestor(parseUnixAttestorConfig(undefined));
  const unixUs = await medianMicros(iterations, () => attestOrThrow(unix, pid, signal));

  const cost: AttestationCost = { cgroupReadUs, unixUs };
  if (options.kubelet !== undefined) {
    cost.k8s = await measureK8s(options.kubelet, pid, iterations, signal);
  }
  if (options.container !== undefined) {
    cost.docker = await measureDocker(options.container, Math.max(50, Math.round(iterations / 4)), signal);
  }
  return cost;
}

async function measureK8s(kubelet: BenchKubelet, pid: number, iterations: number, signal: AbortSignal): Promise<NonNullable<AttestationCost["k8s"]>> {
  const fetchIterations = Math.max(10, Math.round(iterations / 100));

  // One hour keeps the first pod list cached for the whole run; one millisecond makes every call fetch.
  const cached = createK8sAttestor(parseK8sAttestorConfig(k8sPluginData(kubelet, "1h")), silent);
  const cachedUs = await medianMicros(iterations, () => attestOrThrow(cached, pid, signal));
  const fetching = createK8sAttestor(parseK8sAttestorConfig(k8sPluginData(kubelet, "1ms")), silent);
  const fetchUs = await medianMicros(fetchIterations, () => attestOrThrow(fetching, pid, signal));

  const podListBytes = (await getPodList(kubelet)).length;
  const podListGetUs = await medianMicros(fetchIterations, async () => JSON.parse((await getPodList(kubelet)).toString("utf8")));
  return { cachedUs, fetchUs, podListGetUs, podListBytes };
}

async function measureDocker(container: BenchContainer, iterations: number, signal: AbortSignal): Promise<NonNullable<AttestationCost["docker"]>> {
  const docker = createDockerAttestor(parseDockerAttestorConfig({ docker_socket_path: container.socketUrl }), silent);

  const started = process.hrtime.bigint();
  await attestOrThrow(docker, container.pid, signal);
  const firstUs = Number(process.hrtime.bigint() - started) / 1e3;

  const warmUs = await medianMicros(iterations, () => attestOrThrow(docker, container.pid, signal));
  const socketPath = container.socketUrl.replace(/^unix:\/\//, "");
  const inspectGetsUs = await medianMicros(iterations, async () => {
    await getOverSocket(socketPath, `/containers/${container.id}/json`);
    await getOverSocket(socketPath, `/images/${encodeURIComponent(container.image)}/json`);
  });
  return { firstUs, warmUs, inspectGetsUs };
}

/** Calls `attest` and fails the benchmark when it returns no selectors, since then it measured the wrong path. */
async function attestOrThrow(attestor: WorkloadAttestor, pid: number, signal: AbortSignal): Promise<void> {
  const values = await attestor.attest(pid, signal);
  if (values.length === 0) {
    throw new Error(`the ${attestor.name} attestor returned no selectors for pid ${pid}`);
  }
}

/** Runs `call` a tenth of `iterations` times untimed, then `iterations` times timed, and returns the median in microseconds. */
async function medianMicros(iterations: number, call: () => unknown): Promise<number> {
  for (let i = 0; i < Math.ceil(iterations / 10); i++) {
    await call();
  }

  const samples: number[] = [];
  for (let i = 0; i < iterations; i++) {
    const started = process.hrtime.bigint();
    await call();
    samples.push(Number(process.hrtime.bigint() - started) / 1e3);
  }
  samples.sort((a, b) => a - b);
  return samples[Math.floor(samples.length / 2)] as number;
}

function k8sPluginData(kubelet: BenchKubelet, pollRetryInterval: string): Record<string, unknown> {
  return {
    kubelet_secure_port: kubelet.port,
    kubelet_ca_path: kubelet.caPath,
    token_path: kubelet.tokenPath,
    node_name: kubelet.nodeName,
    poll_retry_interval: pollRetryInterval,
  };
}

/** GETs the pod list as the k8s attestor does: a new TLS connection, the CA checked, a bearer token. */
function getPodList(kubelet: BenchKubelet): Promise<Buffer> {
  const token = readFileSync(kubelet.tokenPath, "utf8").trim();
  const request = httpsRequest({
    host: kubelet.nodeName,
    port: kubelet.port,
    path: "/pods",
    ca: readFileSync(kubelet.caPath),
    headers: { authorization: `Bearer ${token}` },
    agent: false,
  });
  return collect(request, `https://${kubelet.nodeName}:${kubelet.port}/pods`);
}

function getOverSocket(socketPath: string, path: string): Promise<Buffer> {
  return collect(httpRequest({ socketPath, path }), `${socketPath} ${path}`);
}

function collect(request: ReturnType<typeof httpRequest>, target: string): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    request.once("response", (response) => {
      const chunks: Buffer[] = [];
      response.on("data", (chunk: Buffer) => chunks.push(chunk));
      response.once("end", () => {
        if (response.statusCode === 200) resolve(Buffer.concat(chunks));
        else reject(new Error(`GET ${target} returned HTTP ${response.statusCode}`));
      });
    });
    request.once("error", reject);
    request.end();
  });
}
