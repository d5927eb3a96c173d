import { checkKeys } from "../../../src/config/check-keys.js";
import { ConfigError } from "../../../src/config/config-error.js";
import { readBoolean, readString } from "../../../src/config/config-values.js";
import { socketPathFromUrl, validatePodmanSocketTemplate } from "./podman-socket.js";

/** Settings of the `docker` workload attestor, from its `plugin_data` block. */
export interface DockerAttestorConfig {
  /** `docker_socket_path`: file path of the Docker Engine socket. Default `/var/run/docker.sock`. */
  dockerSocketPath: string;
  /** `docker_version`: Engine API version such as `1.41`; undefined lets the Engine use its own. */
  dockerVersion?: string;
  /** `podman_socket_path`: file path of the rootful Podman API socket. Default `/run/podman/podman.sock`. */
  podmanSocketPath: string;
  /**
   * `podman_socket_path_template`: `unix://` URL of a rootless Podman socket with one `%d`
   * for the owner's uid (`%%` is a literal `%`). Default `unix:///run/user/%d/podman/podman.sock`.
   */
  podmanSocketPathTemplate: string;
  /** `verbose_container_locator_logs`: log every cgroup path read, at debug level. */
  verboseContainerLocatorLogs: boolean;
}

/** SPIRE's defaults, which are those of the Docker client and of Podman's system service. */
export const DEFAULT_DOCKER_SOCKET_URL = "unix:///var/run/docker.sock";
export const DEFAULT_PODMAN_SOCKET_URL = "unix:///run/podman/podman.sock";
export const DEFAULT_PODMAN_SOCKET_TEMPLATE = "unix:///run/user/%d/podman/podman.sock";

const DATA_PATH = "plugin_data";

const SUPPORTED_KEYS = [
  "docker_socket_path",
  "docker_version",
  "podman_socket_path",
  "podman_socket_path_template",
  "use_new_container_locator",
  "verbose_container_locator_logs",
];

const UNSUPPORTED_KEYS = ["sigstore", "docker_host"];

/**
 * Validates the `docker` attestor's `plugin_data` and returns the typed settings.
 *
 * Unknown keys are an error (SPIRE ignores them). `container_id_cgroup_matchers` and
 * `use_new_container_locator = false` are rejected by name, because Tessera has only the
 * container locator that SPIRE enables by default, and SPIRE itself rejects custom
 * matchers with that locator. An absent block gives the defaults. Throws a `ConfigError`
 * naming the key.
 */
export function parseDockerAttestorConfig(pluginData: Record<string, unknown> = {}): DockerAttestorConfig {
  if ("container_id_cgroup_matchers" in pluginData) {
    throw new ConfigError(
      `${DATA_PATH}.container_id_cgroup_matchers is not supported: tessera-agent finds container IDs with the container locator only (SPIRE's default); remove the option`,
    );
  }
  checkKeys(pluginData, DATA_PATH, SUPPORTED_KEYS, UNSUPPORTED_KEYS);

  if (readBoolean(pluginData, "use_new_container_locator", DATA_PATH) === false) {
    throw new ConfigError(
      `${DATA_PATH}.use_new_container_locator = false is not supported: tessera-agent has only the container locator; remove the option`,
    );
  }

  const config: DockerAttestorConfig = {
    dockerSocketPath: readSocketUrl(pluginData, "docker_socket_path", DEFAULT_DOCKER_SOCKET_URL),
    podmanSocketPath: readSocketUrl(pluginData, "podman_socket_path", DEFAULT_PODMAN_SOCKET_URL),
    podmanSocketPathTemplate: readTemplate(pluginData),
    verboseContainerLocatorLogs: readBoolean(pluginData, "verbose_container_locator_logs", DATA_PATH) ?? false,
  };

  const version = readString(pluginData, "docker_version", DATA_PATH);
  if (version !== undefined && version !== "") {
    const match = /^v?([0-9]+\.[0-9]+)$/.exec(version);
    if (match === null) {
      throw new ConfigError(`${DATA_PATH}.docker_version must be an Engine API version such as "1.41", got ${JSON.stringify(version)}`);
    }
    config.dockerVersion = match[1] as string;
  }

  return config;
}

/** Reads a `unix://` socket URL setting and returns the file path; an empty string gives the default, as in SPIRE. */
function readSocketUrl(pluginData: Record<string, unknown>, key: string, fallback: string): string {
  const url = readString(pluginData, key, DATA_PATH);
  try {
    return socketPathFromUrl(url === undefined || url === "" ? fallback : url);
  } catch (error) {
    throw new ConfigError(`${DATA_PATH}.${key}: ${(error as Error).message}`, { cause: error });
  }
}

function readTemplate(pluginData: Record<string, unknown>): string {
  const key = "podman_socket_path_template";
  const template = readString(pluginData, key, DATA_PATH);
  const chosen = template === undefined || template === "" ? DEFAULT_PODMAN_SOCKET_TEMPLATE : template;
  try {
    validatePodmanSocketTemplate(chosen);
  } catch (error) {
    throw new ConfigError(`${DATA_PATH}.${key}: ${(error as Error).message}`, { cause: error });
  }
  return chosen;
}
