import { parseDockerAttestorConfig } from "../../../plugins/workloadattestor/docker/docker-config.js";
import { parseK8sAttestorConfig } from "../../../plugins/workloadattestor/k8s/k8s-config.js";
import { parseSystemdAttestorConfig } from "../../../plugins/workloadattestor/systemd/systemd-config.js";
import { parseUnixAttestorConfig } from "../../../plugins/workloadattestor/unix/unix-config.js";
import { parseX509popAgentConfig } from "../../../plugins/nodeattestor/x509pop/x509pop-agent.js";
import type { KeyManagerConfig, AgentConfig, NodeAttestorConfig } from "./agent-config.js";
import { checkKeys } from "../../config/check-keys.js";
import { ConfigError } from "../../config/config-error.js";
import type { ConfigBlock } from "../../config/config-values.js";
import { asBlock, readBoolean, readString } from "../../config/config-values.js";
import { SUPPORTED_PLUGIN_OPTIONS, UNSUPPORTED_PLUGIN_OPTIONS } from "./known-options.js";

/** The plugin choices from the `plugins {}` block. */
export interface PluginSettings {
  keyManager: KeyManagerConfig;
  /** Undefined when no NodeAttestor block is given (a join token alone selects join_token). */
  nodeAttestor?: NodeAttestorConfig;
  workloadAttestors: AgentConfig["workloadAttestors"];
}

/** Built-in plugin names per type: those Tessera implements, then those SPIRE has that Tessera does not. */
const PLUGIN_NAMES: Record<string, { supported: readonly string[]; unsupported: readonly string[] }> = {
  KeyManager: { supported: ["disk", "memory"], unsupported: [] },
  NodeAttestor: {
    supported: ["join_token", "x509pop"],
    unsupported: [
      "aws_iid",
      "azure_imds",
      "azure_msi",
      "gcp_iit",
      "http_challenge",
      "k8s_psat",
      "k8s_sat",
      "sshpop",
      "tpm_devid",
    ],
  },
  WorkloadAttestor: { supported: ["docker", "k8s", "systemd", "unix"], unsupported: ["slurm", "windows"] },
  SVIDStore: { supported: [], unsupported: ["aws_secretsmanager", "gcp_secretmanager"] },
};

/**
 * Reads the `plugins {}` block: exactly one KeyManager (`memory` or `disk` with
 * `plugin_data { directory }`), at most one NodeAttestor (`join_token`, or `x509pop` with
 * `private_key_path`, `certificate_path` and `intermediates_path`) and at least one
 * WorkloadAttestor (`docker`, `k8s`, `systemd`, `unix`). Plugins with `enabled = false` are skipped, as in SPIRE.
 */
export function readPluginsBlock(raw: unknown): PluginSettings {
  if (raw === undefined) {
    throw new ConfigError("the plugins block is missing: configure a KeyManager, a NodeAttestor and a WorkloadAttestor");
  }
  const block = asBlock(raw, "plugins");
  checkKeys(block, "plugins", Object.keys(PLUGIN_NAMES), []);

  const keyManagers = enabledPlugins(block, "KeyManager");
  const nodeAttestors = enabledPlugins(block, "NodeAttestor");
  const workloadAttestors = enabledPlugins(block, "WorkloadAttestor");
  enabledPlugins(block, "SVIDStore");

  if (keyManagers.length !== 1) {
    throw new ConfigError(`exactly one KeyManager plugin must be configured, found ${keyManagers.length}`);
  }
  if (nodeAttestors.length > 1) {
    throw new ConfigError(`at most one NodeAttestor plugin may be configured, found ${nodeAttestors.length}`);
  }
  if (workloadAttestors.length === 0) {
    throw new ConfigError('at least one WorkloadAttestor plugin must be configured, e.g. WorkloadAttestor "unix" { plugin_data {} }');
  }

  const settings: PluginSettings = {
    keyManager: readKeyManager(keyManagers[0] as EnabledPlugin),
    workloadAttestors: {},
  };
  if (nodeAttestors[0] !== undefined) {
    settings.nodeAttestor = readNodeAttestor(nodeAttestors[0]);
  }
  for (const plugin of workloadAttestors) {
    try {
      readWorkloadAttestor(plugin, settings.workloadAttestors);
    } catch (error) {
      throw new ConfigError(`${plugin.path}: ${(error as Error).message}`, { cause: error });
    }
  }
  return settings;
}

interface EnabledPlugin {
  name: string;
  /** The plugin_data block, or undefined when absent. */
  data: ConfigBlock | undefined;
  path: string;
}

function enabledPlugins(block: ConfigBlock, type: string): EnabledPlugin[] {
  if (block[type] === undefined) {
    return [];
  }

  const names = PLUGIN_NAMES[type] as { supported: readonly string[]; unsupported: readonly string[] };
  const plugins = asBlock(block[type], `plugins.${type}`);
  const enabled: EnabledPlugin[] = [];

  for (const [name, rawPlugin] of Object.entries(plugins)) {
    const path = `plugins.${type}.${name}`;
    const plugin = asBlock(rawPlugin, path);
    checkKeys(plugin, path, SUPPORTED_PLUGIN_OPTIONS, UNSUPPORTED_PLUGIN_OPTIONS);
    if (readBoolean(plugin, "enabled", path) === false) {
      continue;
    }

    if (names.unsupported.includes(name)) {
      throw new ConfigError(`${type} plugin "${name}" is not supported yet by tessera-agent`);
    }
    if (!names.supported.includes(name)) {
      throw new ConfigError(`unknown ${type} plugin "${name}"; built-in ${type} plugins: ${names.supported.join(", ")}`);
    }

    const data = plugin.plugin_data === undefined ? undefined : asBlock(plugin.plugin_data, `${path}.plugin_data`);
    enabled.push({ name, data, path });
  }
  return enabled;
}

function readWorkloadAttestor(plugin: EnabledPlugin, attestors: AgentConfig["workloadAttestors"]): void {
  if (plugin.name === "docker") {
    attestors.docker = parseDockerAttestorConfig(plugin.data);
  } else if (plugin.name === "k8s") {
    attestors.k8s = parseK8sAttestorConfig(plugin.data);
  } else if (plugin.name === "systemd") {
    attestors.systemd = parseSystemdAttestorConfig(plugin.data);
  } else {
    attestors.unix = parseUnixAttestorConfig(plugin.data);
  }
}

function readNodeAttestor(plugin: EnabledPlugin): NodeAttestorConfig {
  const dataPath = `${plugin.path}.plugin_data`;
  if (plugin.name === "x509pop") {
    return { name: "x509pop", x509pop: parseX509popAgentConfig(plugin.data, dataPath) };
  }
  checkKeys(plugin.data ?? {}, dataPath, [], []);
  return { name: "join_token" };
}

function readKeyManager(plugin: EnabledPlugin): KeyManagerConfig {
  const data = plugin.data ?? {};
  const dataPath = `${plugin.path}.plugin_data`;

  if (plugin.name === "memory") {
    checkKeys(data, dataPath, [], []);
    return { name: "memory" };
  }

  checkKeys(data, dataPath, ["directory"], []);
  const directory = readString(data, "directory", dataPath);
  if (directory === undefined || directory === "") {
    throw new ConfigError(`${dataPath}.directory is required: the folder where the disk KeyManager keeps keys.json`);
  }
  return { name: "disk", directory };
}
