import type { Logger } from "pino";
import { locateProcessContainer } from "../container/container-locator.js";
import type { ContainerLocation } from "../container/container-locator.js";
import type { WorkloadAttestor } from "../workload-attestor.js";
import type { K8sAttestorConfig } from "./k8s-config.js";
import { fetchKubeletPodList, kubeletPodsUrl } from "./kubelet-client.js";
import type { KubeletCredentials } from "./kubelet-credentials.js";
import { createCredentialsSource } from "./kubelet-credentials.js";
import { createPodListFetcher } from "./pod-list-fetcher.js";
import type { VersionedPodList } from "./pod-list-fetcher.js";
import { containerSelectorValues, findContainerStatus, podSelectorValues, readPodFacts } from "./pod-selectors.js";

/** Host state and limits the attestor uses. Tests replace them. */
export interface K8sAttestorSources {
  /** Mount point of procfs; default `/proc`. */
  procRoot?: string;
  /** Environment read for `node_name_env`; default `process.env`. */
  env?: Readonly<Record<string, string | undefined>>;
  /** Largest pod list accepted, in bytes; default 64 MiB. */
  maxPodListBytes?: number;
}

/**
 * Creates the `k8s` workload attestor. It finds the caller's pod UID and container ID in
 * `/proc/<pid>/cgroup`, looks the container up in the kubelet's pod list, and returns
 * SPIRE's `k8s` selector values for the pod and the container (see pod-selectors.ts).
 *
 * A process outside any container gets no selectors and no error. A container that the
 * kubelet does not list yet is looked up again, up to `maxPollAttempts` pod lists, which
 * are fetched at least `pollRetryIntervalMs` apart and shared by concurrent callers. A
 * kubelet failure (TLS, HTTP status, malformed or oversized list) fails the attestation
 * at once with that error.
 *
 * Reads the kubelet credentials here, so it throws when a configured file is missing.
 */
export function createK8sAttestor(config: K8sAttestorConfig, logger: Logger, sources: K8sAttestorSources = {}): WorkloadAttestor {
  const log = logger.child({ subsystem: "workload_attestor", attestor: "k8s" });
  const env = sources.env ?? process.env;
  const nodeName = config.nodeName ?? nonEmpty(env[config.nodeNameEnv]);

  const endpoint = config.kubelet;
  const credentials: () => KubeletCredentials =
    endpoint.kind === "secure" ? createCredentialsSource(endpoint, config.reloadIntervalMs, log) : () => ({});

  const clientOptions = { endpoint, nodeName, credentials, maxResponseBytes: sources.maxPodListBytes };
  const fetcher = createPodListFetcher(
    () => fetchKubeletPodList(clientOptions, new AbortController().signal),
    config.pollRetryIntervalMs,
  );
  log.info({ kubelet_url: kubeletPodsUrl(endpoint, nodeName).href }, "Kubernetes workload attestor configured");

  return {
    name: "k8s",
    async attest(pid, signal) {
      const found = locateProcessContainer(pid, {
        procRoot: sources.procRoot,
        withPodUid: true,
        verboseLogger: config.verboseContainerLocatorLogs ? log : undefined,
      });
      if (found.location === undefined) {
        return [];
      }

      let seenVersion = 0;
      for (let attempt = 1; ; attempt++) {
        const list = await fetcher.fetchNext(seenVersion, signal);
        seenVersion = list.version;

        const values = selectorsFromPodList(list, found.location, config.disableContainerSelectors);
        if (values !== undefined) {
          return values;
        }

        if (attempt >= config.maxPollAttempts) {
          log.warn({ pid, pod_uid: found.location.podUid, container_id: found.location.containerId, attempts: attempt }, "Container not found in the kubelet's pod list; giving up");
          throw new Error(
            `no selectors found after ${attempt} poll attempts: the kubelet does not list container ${found.location.containerId}` +
              (found.location.podUid === undefined ? "" : ` of pod ${found.location.podUid}`),
          );
        }
      }
    },
  };
}

/**
 * Returns the selector values for the pod that runs the container at `location`, or
 * undefined when no pod lists it yet. With a known pod UID only that pod is examined.
 * With `disableContainerSelectors`, a known pod attests with pod selectors even before
 * its container is listed. Throws when two pods claim the container.
 */
function selectorsFromPodList(
  list: VersionedPodList,
  location: ContainerLocation,
  disableContainerSelectors: boolean,
): string[] | undefined {
  const candidates =
    location.podUid === undefined ? [...list.pods.values()] : list.pods.has(location.podUid) ? [list.pods.get(location.podUid)] : [];

  let result: string[] | undefined;
  for (const raw of candidates) {
    const pod = readPodFacts(raw);
    const status = findContainerStatus(pod, location.containerId);

    let values: string[] | undefined;
    if (status !== undefined) {
      values = podSelectorValues(pod);
      if (!disableContainerSelectors) {
        values.push(...containerSelectorValues(status));
      }
    } else if (location.podUid !== undefined && disableContainerSelectors) {
      values = podSelectorValues(pod);
    }

    if (values === undefined) {
      continue;
    }
    if (result !== undefined) {
      throw new Error(`two pods in the kubelet's pod list claim container ${location.containerId}`);
    }
    result = values;
  }
  return result;
}

function nonEmpty(value: string | undefined): string | undefined {
  return value === undefined || value === "" ? undefined : value;
}
