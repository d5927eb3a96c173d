import Docker from "dockerode";
import type { ContainerInspectInfo } from "dockerode";
import type { Logger } from "pino";
import { locateProcessContainer } from "../container/container-locator.js";
import type { WorkloadAttestor } from "../workload-attestor.js";
import type { DockerAttestorConfig } from "./docker-config.js";
import { retryWhileStarting } from "./inspect-retry.js";
import { choosePodmanSocket } from "./podman-socket.js";

/** Locations of host state the attestor reads. Tests point them elsewhere. */
export interface DockerAttestorSources {
  /** Mount point of procfs; default `/proc`. */
  procRoot?: string;
}

/** Time limit of one Engine API request, in milliseconds. The agent's per-attestor limit bounds the whole call. */
const REQUEST_TIMEOUT_MS = 10_000;

/**
 * Creates the `docker` workload attestor. It finds the container of the caller from
 * `/proc/<pid>/cgroup`, inspects it through the container engine's API and returns SPIRE's selectors:
 * `label:<key>:<value>` per label, `env:<NAME=value>` per environment entry,
 * `image_id:<Config.Image>` (the image reference the container was created from, such as
 * `envoyproxy/envoy:v1.29.1`) and `image_config_digest:<image ID>` (`sha256:…`, when the
 * image can still be inspected).
 *
 * Podman containers, recognised by their cgroup names, are inspected over the Podman
 * socket (rootful, or the owner's rootless one), others over the Docker socket. A process
 * outside any container gets no selectors and no error. The inspect call is retried three
 * times (100, 200 and 400 ms apart) while a new container is not yet known to the engine.
 *
 * NOTE: `env:` selectors carry environment values, which may be secrets, into selector
 * lists and logs, as in SPIRE.
 */
export function createDockerAttestor(
  config: DockerAttestorConfig,
  logger: Logger,
  sources: DockerAttestorSources = {},
): WorkloadAttestor {
  const log = logger.child({ subsystem: "workload_attestor", attestor: "docker" });
  const clients = new Map<string, Docker>();

  function clientFor(socketPath: string): Docker {
    let client = clients.get(socketPath);
    if (client === undefined) {
      // `host: undefined` stops dockerode from preferring a DOCKER_HOST found in the
      // environment over the configured socket.
      client = new Docker({
        socketPath,
        host: undefined,
        protocol: "http",
        timeout: REQUEST_TIMEOUT_MS,
        version: config.dockerVersion === undefined ? undefined : `v${config.dockerVersion}`,
      });
      clients.set(socketPath, client);
    }
    return client;
  }

  return {
    name: "docker",
    async attest(pid, signal) {
      const found = locateProcessContainer(pid, {
        procRoot: sources.procRoot,
        withPodUid: false,
        verboseLogger: config.verboseContainerLocatorLogs ? log : undefined,
      });
      if (found.location === undefined) {
        return [];
      }

      const containerId = found.location.containerId;
      const podman = choosePodmanSocket(found.cgroups, config.podmanSocketPath, config.podmanSocketPathTemplate);
      const socketPath = podman?.socketPath ?? config.dockerSocketPath;
      const client = clientFor(socketPath);

      let container: ContainerInspectInfo;
      try {
        container = await retryWhileStarting(() => client.getContainer(containerId).inspect({ abortSignal: signal }), signal);
      } catch (error) {
        throw new Error(`failed to inspect container ${containerId} at ${socketPath}: ${describeError(error)}`, { cause: error });
      }

      const values = selectorValuesFromConfig(container.Config);
      const imageId = await inspectImageId(client, container.Config.Image, log, pid);
      if (imageId !== undefined) {
        values.push(`image_config_digest:${imageId}`);
      }
      return values;
    },
  };
}

/** Builds the label, env and image_id selector values from a container's `Config`. */
export function selectorValuesFromConfig(config: Partial<ContainerInspectInfo["Config"]> | null | undefined): string[] {
  const values: string[] = [];

  for (const [key, value] of Object.entries(config?.Labels ?? {})) {
    values.push(`label:${key}:${value}`);
  }
  for (const entry of config?.Env ?? []) {
    values.push(`env:${entry}`);
  }
  if (typeof config?.Image === "string" && config.Image !== "") {
    values.push(`image_id:${config.Image}`);
  }
  return values;
}

/**
 * Returns the ID (`sha256:…`) of the image the container was created from. A failure
 * only drops the `image_config_digest` selector, as in SPIRE, because the image may have
 * been removed or retagged since the container started.
 */
async function inspectImageId(client: Docker, image: string | undefined, log: Logger, pid: number): Promise<string | undefined> {
  if (image === undefined || image === "") {
    return undefined;
  }

  try {
    const info = await client.getImage(image).inspect();
    return typeof info.Id === "string" && info.Id !== "" ? info.Id : undefined;
  } catch (error) {
    log.debug({ pid, image, err: error }, "Failed to inspect the image of the workload container; no image_config_digest selector");
    return undefined;
  }
}

function describeError(error: unknown): string {
  if (error instanceof Error) {
    const status = (error as { statusCode?: unknown }).statusCode;
    return typeof status === "number" ? `${error.message} (HTTP ${status})` : error.message;
  }
  return String(error);
}
