import { checkKeys } from "../../../src/config/check-keys.js";
import { ConfigError } from "../../../src/config/config-error.js";
import { readBoolean, readDuration, readInteger, readString } from "../../../src/config/config-values.js";

/** The kubelet `/pods` endpoint and the way the attestor connects to it. */
export type KubeletEndpoint =
  | {
      /** Plain HTTP on `127.0.0.1:<port>`, without authentication (`kubelet_read_only_port`). */
      kind: "read-only";
      port: number;
    }
  | {
      /** HTTPS on `<node name or 127.0.0.1>:<port>` (`kubelet_secure_port`, default 10250). */
      kind: "secure";
      port: number;
      /** `skip_kubelet_verification`: accept any kubelet certificate. */
      skipVerification: boolean;
      /** `kubelet_ca_path`: PEM bundle that the kubelet's serving certificate must chain to. */
      caPath: string;
      /** Credentials the agent presents to the kubelet. */
      auth: KubeletAuth;
    };

/** Credentials for the kubelet's secure port. */
export type KubeletAuth =
  | { kind: "anonymous" }
  | { kind: "client-certificate"; certificatePath: string; privateKeyPath: string }
  | { kind: "token"; tokenPath: string };

/** Settings of the `k8s` workload attestor, from its `plugin_data` block. */
export interface K8sAttestorConfig {
  kubelet: KubeletEndpoint;
  /** `max_poll_attempts`: pod list reads while the caller's container is not listed yet. Default 60. */
  maxPollAttempts: number;
  /** `poll_retry_interval` in milliseconds: least time between two kubelet requests. Default 500. */
  pollRetryIntervalMs: number;
  /** `node_name`: the kubelet's host name, checked against its certificate. */
  nodeName?: string;
  /** `node_name_env`: environment variable with the node name when `node_name` is unset. Default `MY_NODE_NAME`. */
  nodeNameEnv: string;
  /** `reload_interval` in milliseconds: how often the token, client certificate and CA are read again. Default 60 000. */
  reloadIntervalMs: number;
  /** `disable_container_selectors`: pod selectors only, so a pod whose container is not listed yet still attests. */
  disableContainerSelectors: boolean;
  /** `verbose_container_locator_logs`: log every cgroup path read, at debug level. */
  verboseContainerLocatorLogs: boolean;
}

/** SPIRE's defaults: the service account files that Kubernetes mounts into every pod. */
export const DEFAULT_KUBELET_CA_PATH = "/var/run/secrets/kubernetes.io/serviceaccount/ca.crt";
export const DEFAULT_TOKEN_PATH = "/var/run/secrets/kubernetes.io/serviceaccount/token";
export const DEFAULT_SECURE_PORT = 10250;
export const DEFAULT_MAX_POLL_ATTEMPTS = 60;
export const DEFAULT_POLL_RETRY_INTERVAL_MS = 500;
export const DEFAULT_RELOAD_INTERVAL_MS = 60_000;
export const DEFAULT_NODE_NAME_ENV = "MY_NODE_NAME";

const DATA_PATH = "plugin_data";

const SUPPORTED_KEYS = [
  "kubelet_read_only_port",
  "kubelet_secure_port",
  "max_poll_attempts",
  "poll_retry_interval",
  "kubelet_ca_path",
  "skip_kubelet_verification",
  "token_path",
  "certificate_path",
  "private_key_path",
  "use_anonymous_authentication",
  "node_name_env",
  "node_name",
  "reload_interval",
  "disable_container_selectors",
  "use_new_container_locator",
  "verbose_container_locator_logs",
];

const UNSUPPORTED_KEYS = ["experimental", "sigstore"];

/**
 * Validates the `k8s` attestor's `plugin_data` and returns the typed settings. An absent
 * block gives the defaults: the secure port 10250 with the pod's service account token
 * and CA.
 *
 * Zero for a count or an interval means the default, as in SPIRE. Stricter than SPIRE,
 * it rejects unknown keys, negative values, both ports at once, a certificate without
 * its key, and anonymous authentication combined with credentials. Throws a
 * `ConfigError` naming the key.
 */
export function parseK8sAttestorConfig(pluginData: Record<string, unknown> = {}): K8sAttestorConfig {
  checkKeys(pluginData, DATA_PATH, SUPPORTED_KEYS, UNSUPPORTED_KEYS);

  if (readBoolean(pluginData, "use_new_container_locator", DATA_PATH) === false) {
    throw new ConfigError(
      `${DATA_PATH}.use_new_container_locator = false is not supported: tessera-agent has only the container locator; remove the option`,
    );
  }

  const config: K8sAttestorConfig = {
    kubelet: readKubeletEndpoint(pluginData),
    maxPollAttempts: readPositive(pluginData, "max_poll_attempts", readInteger, DEFAULT_MAX_POLL_ATTEMPTS),
    pollRetryIntervalMs: readPositive(pluginData, "poll_retry_interval", readDuration, DEFAULT_POLL_RETRY_INTERVAL_MS),
    nodeNameEnv: nonEmpty(readString(pluginData, "node_name_env", DATA_PATH)) ?? DEFAULT_NODE_NAME_ENV,
    reloadIntervalMs: readPositive(pluginData, "reload_interval", readDuration, DEFAULT_RELOAD_INTERVAL_MS),
    disableContainerSelectors: readBoolean(pluginData, "disable_container_selectors", DATA_PATH) ?? false,
    verboseContainerLocatorLogs: readBoolean(pluginData, "verbose_container_locator_logs", DATA_PATH) ?? false,
  };

  const nodeName = nonEmpty(readString(pluginData, "node_name", DATA_PATH));
  if (nodeName !== undefined) {
    config.nodeName = nodeName;
  }
  return config;
}

function readKubeletEndpoint(pluginData: Record<string, unknown>): KubeletEndpoint {
  const readOnlyPort = readPort(pluginData, "kubelet_read_only_port");
  const securePort = readPort(pluginData, "kubelet_secure_port");
  if (readOnlyPort !== undefined && securePort !== undefined) {
    throw new ConfigError(`${DATA_PATH}: set kubelet_read_only_port or kubelet_secure_port, not both`);
  }

  const auth = readAuth(pluginData);
  const skipVerification = readBoolean(pluginData, "skip_kubelet_verification", DATA_PATH) ?? false;
  const caPath = nonEmpty(readString(pluginData, "kubelet_ca_path", DATA_PATH)) ?? DEFAULT_KUBELET_CA_PATH;

  if (readOnlyPort !== undefined) {
    return { kind: "read-only", port: readOnlyPort };
  }
  return { kind: "secure", port: securePort ?? DEFAULT_SECURE_PORT, skipVerification, caPath, auth };
}

function readAuth(pluginData: Record<string, unknown>): KubeletAuth {
  const anonymous = readBoolean(pluginData, "use_anonymous_authentication", DATA_PATH) ?? false;
  const tokenPath = nonEmpty(readString(pluginData, "token_path", DATA_PATH));
  const certificatePath = nonEmpty(readString(pluginData, "certificate_path", DATA_PATH));
  const privateKeyPath = nonEmpty(readString(pluginData, "private_key_path", DATA_PATH));

  if (anonymous) {
    if (tokenPath !== undefined || certificatePath !== undefined || privateKeyPath !== undefined) {
      throw new ConfigError(
        `${DATA_PATH}.use_anonymous_authentication cannot be combined with token_path, certificate_path or private_key_path`,
      );
    }
    return { kind: "anonymous" };
  }

  if (certificatePath !== undefined || privateKeyPath !== undefined) {
    if (certificatePath === undefined) {
      throw new ConfigError(`${DATA_PATH}.certificate_path is required with private_key_path`);
    }
    if (privateKeyPath === undefined) {
      throw new ConfigError(`${DATA_PATH}.private_key_path is required with certificate_path`);
    }
    return { kind: "client-certificate", certificatePath, privateKeyPath };
  }

  return { kind: "token", tokenPath: tokenPath ?? DEFAULT_TOKEN_PATH };
}

function readPort(pluginData: Record<string, unknown>, key: string): number | undefined {
  const port = readInteger(pluginData, key, DATA_PATH);
  if (port === undefined || port === 0) {
    return undefined;
  }
  if (port < 1 || port > 65535) {
    throw new ConfigError(`${DATA_PATH}.${key} must be a TCP port between 1 and 65535, got ${port}`);
  }
  return port;
}

type Reader = (block: Record<string, unknown>, key: string, path: string) => number | undefined;

/** Reads a count or a duration where 0 (or an absent key) gives the default and a negative value is an error. */
function readPositive(pluginData: Record<string, unknown>, key: string, read: Reader, fallback: number): number {
  const value = read(pluginData, key, DATA_PATH);
  if (value === undefined || value === 0) {
    return fallback;
  }
  if (value < 0) {
    throw new ConfigError(`${DATA_PATH}.${key} must not be negative, got ${pluginData[key] as string | number}`);
  }
  return value;
}

function nonEmpty(value: string | undefined): string | undefined {
  return value === "" ? undefined : value;
}
