import { readFileSync } from "node:fs";
import { join, resolve } from "node:path";
import { checkKeys } from "../../config/check-keys.js";
import { ConfigError } from "../../config/config-error.js";
import type { ConfigBlock } from "../../config/config-values.js";
import { asBlock, readBoolean, readDuration, readInteger, readString } from "../../config/config-values.js";
import { toPinoLevel } from "../../common/log.js";
import { expandEnv, parseConfigText } from "../../config/hcl.js";
import { parseTrustDomain } from "../../spiffe/trust-domain.js";
import { parseX509popServerConfig } from "../../../plugins/nodeattestor/x509pop/x509pop-server-config.js";
import type { CaSubject } from "../ca/x509-ca.js";
import { DEFAULT_CA_SUBJECT } from "../ca/x509-ca.js";
import {
  SERVER_PLUGIN_NAMES,
  SUPPORTED_CA_SUBJECT_OPTIONS,
  SUPPORTED_EXPERIMENTAL_OPTIONS,
  SUPPORTED_PLUGIN_OPTIONS,
  SUPPORTED_SERVER_OPTIONS,
  SUPPORTED_TOP_LEVEL_BLOCKS,
  UNSUPPORTED_EXPERIMENTAL_OPTIONS,
  UNSUPPORTED_PLUGIN_OPTIONS,
  UNSUPPORTED_SERVER_OPTIONS,
  UNSUPPORTED_TOP_LEVEL_BLOCKS,
} from "./known-options.js";
import { SERVER_DEFAULTS } from "./server-config.js";
import type { ServerConfig, ServerKeyManagerConfig, ServerNodeAttestorsConfig } from "./server-config.js";

export { ConfigError };

/** Settings the command line can override (the `run` flags). */
export interface ServerOverrides {
  bindAddress?: string;
  bindPort?: number;
  socketPath?: string;
  trustDomain?: string;
  dataDir?: string;
  logLevel?: string;
  logFile?: string;
  logFormat?: string;
}

/** Inputs of {@link loadServerConfig}. */
export interface LoadServerConfigOptions {
  configPath: string;
  overrides?: ServerOverrides;
  /** Expand `$VAR` and `${VAR}` in the file before parsing (`-expandEnv`). */
  expandEnv?: boolean;
  env?: Readonly<Record<string, string | undefined>>;
}

/** Longest Unix socket path Linux accepts (sun_path is 108 bytes with the final NUL). */
const MAX_SOCKET_PATH_BYTES = 107;

/**
 * Reads a spire-server style configuration file (HCL or JSON), applies the flag overrides
 * and defaults, and checks every value. Throws {@link ConfigError} (or the HCL parser's
 * error with file, line and column) naming the setting at fault.
 */
export function loadServerConfig(options: LoadServerConfigOptions): ServerConfig {
  let text: string;
  try {
    text = readFileSync(options.configPath, "utf8");
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === "ENOENT") {
      throw new ConfigError(`configuration file ${resolve(options.configPath)} not found: use the -config flag`);
    }
    throw new ConfigError(`failed to read configuration file ${options.configPath}: ${(error as Error).message}`);
  }
  if (options.expandEnv === true) {
    text = expandEnv(text, options.env ?? process.env);
  }
  return parseServerConfig(text, options.configPath, options.overrides ?? {});
}

/** Like {@link loadServerConfig} for text already in memory; `fileName` appears in messages. */
export function parseServerConfig(text: string, fileName: string, overrides: ServerOverrides = {}): ServerConfig {
  const top = parseConfigText(text, fileName);
  checkServerKeys(top, "", SUPPORTED_TOP_LEVEL_BLOCKS, UNSUPPORTED_TOP_LEVEL_BLOCKS);
  if (top.server === undefined) {
    throw new ConfigError(`${fileName}: the server block is missing`);
  }

  const server = asBlock(top.server, "server");
  checkServerKeys(server, "server", SUPPORTED_SERVER_OPTIONS, UNSUPPORTED_SERVER_OPTIONS);

  const dataDir = overrides.dataDir ?? readString(server, "data_dir", "server");
  if (dataDir === undefined || dataDir === "") {
    throw new ConfigError("server.data_dir is required (or the -dataDir flag)");
  }
  const trustDomainText = overrides.trustDomain ?? readString(server, "trust_domain", "server");
  if (trustDomainText === undefined || trustDomainText === "") {
    throw new ConfigError("server.trust_domain is required (or the -trustDomain flag)");
  }

  checkCaKeyType(readString(server, "ca_key_type", "server"));
  const defaultX509SvidTtlSeconds = readTtl(server, "default_x509_svid_ttl", SERVER_DEFAULTS.defaultX509SvidTtlSeconds);
  const plugins = readPlugins(top.plugins, dataDir);

  return {
    trustDomain: checkTrustDomain(trustDomainText),
    bindAddress: overrides.bindAddress ?? readString(server, "bind_address", "server") ?? SERVER_DEFAULTS.bindAddress,
    bindPort: checkPort(overrides.bindPort ?? readInteger(server, "bind_port", "server") ?? SERVER_DEFAULTS.bindPort),
    socketPath: checkSocketPath(overrides.socketPath ?? readString(server, "socket_path", "server") ?? SERVER_DEFAULTS.socketPath),
    dataDir,
    logLevel: checkLogLevel(overrides.logLevel ?? readString(server, "log_level", "server") ?? SERVER_DEFAULTS.logLevel),
    logFormat: checkLogFormat(overrides.logFormat ?? readString(server, "log_format", "server") ?? "json"),
    logFile: emptyToUndefined(overrides.logFile ?? readString(server, "log_file", "server")),
    caTtlSeconds: readTtl(server, "ca_ttl", SERVER_DEFAULTS.caTtlSeconds),
    caSubject: readCaSubject(server.ca_subject),
    defaultX509SvidTtlSeconds,
    defaultJwtSvidTtlSeconds: readTtl(server, "default_jwt_svid_ttl", SERVER_DEFAULTS.defaultJwtSvidTtlSeconds),
    agentTtlSeconds: readTtl(server, "agent_ttl", defaultX509SvidTtlSeconds),
    databasePath: plugins.databasePath,
    keyManager: plugins.keyManager,
    entryPageSize: readExperimental(server.experimental),
    nodeAttestors: plugins.nodeAttestors,
  };
}

/** Rejects unsupported options with "not supported yet", then unknown ones (with a suggestion). */
function checkServerKeys(block: ConfigBlock, path: string, supported: readonly string[], unsupported: readonly string[]): void {
  for (const key of Object.keys(block)) {
    if (unsupported.includes(key)) {
      const name = path === "" ? key : `${path}.${key}`;
      throw new ConfigError(`option ${name} is not supported yet by tessera-server; remove it from the configuration`);
    }
  }
  checkKeys(block, path, supported, unsupported);
}

function readTtl(block: ConfigBlock, key: string, fallback: number): number {
  const milliseconds = readDuration(block, key, "server");
  if (milliseconds === undefined) return fallback;
  if (milliseconds < 1000) {
    throw new ConfigError(`server.${key} must be at least 1s, got ${JSON.stringify(block[key])}`);
  }
  return Math.floor(milliseconds / 1000);
}

function readCaSubject(raw: unknown): CaSubject {
  if (raw === undefined) return DEFAULT_CA_SUBJECT;
  const block = asBlock(raw, "server.ca_subject");
  checkServerKeys(block, "server.ca_subject", SUPPORTED_CA_SUBJECT_OPTIONS, []);
  return {
    country: readStringList(block, "country", "server.ca_subject"),
    organization: readStringList(block, "organization", "server.ca_subject"),
    commonName: readString(block, "common_name", "server.ca_subject") ?? "",
  };
}

function readStringList(block: ConfigBlock, key: string, path: string): string[] {
  const value = block[key];
  if (value === undefined) return [];
  if (!Array.isArray(value) || !value.every((item) => typeof item === "string")) {
    throw new ConfigError(`${path}.${key} must be a list of strings, e.g. ["US"]`);
  }
  return value as string[];
}

function readExperimental(raw: unknown): number {
  if (raw === undefined) return SERVER_DEFAULTS.entryPageSize;
  const block = asBlock(raw, "server.experimental");
  checkServerKeys(block, "server.experimental", SUPPORTED_EXPERIMENTAL_OPTIONS, UNSUPPORTED_EXPERIMENTAL_OPTIONS);
  const pageSize = readInteger(block, "entry_page_size", "server.experimental") ?? SERVER_DEFAULTS.entryPageSize;
  if (pageSize < 1) {
    throw new ConfigError(`server.experimental.entry_page_size must be at least 1, got ${pageSize}`);
  }
  return pageSize;
}

interface PluginChoices {
  databasePath: string;
  keyManager: ServerKeyManagerConfig;
  nodeAttestors: ServerNodeAttestorsConfig;
}

interface EnabledPlugin {
  name: string;
  path: string;
  data: ConfigBlock;
}

/**
 * Reads `plugins {}`: exactly one KeyManager (`disk` with `keys_path`, or `memory`), at most
 * one DataStore (`sql` with `database_type = "sqlite3"`; default `<data_dir>/datastore.sqlite3`)
 * and any of the NodeAttestors `join_token` and `x509pop`, as SPIRE's server takes one
 * plugin per attestation type. Plugins with `enabled = false` are skipped.
 */
function readPlugins(raw: unknown, dataDir: string): PluginChoices {
  if (raw === undefined) {
    throw new ConfigError('the plugins block is missing: configure at least KeyManager "disk" or "memory"');
  }
  const block = asBlock(raw, "plugins");
  checkKeys(block, "plugins", Object.keys(SERVER_PLUGIN_NAMES), []);

  const dataStores = enabledPlugins(block, "DataStore");
  const keyManagers = enabledPlugins(block, "KeyManager");
  const nodeAttestors = enabledPlugins(block, "NodeAttestor");
  for (const type of ["UpstreamAuthority", "Notifier", "BundlePublisher", "CredentialComposer"]) {
    enabledPlugins(block, type);
  }

  if (keyManagers.length !== 1) {
    throw new ConfigError(`exactly one KeyManager plugin must be configured ("disk" or "memory"), found ${keyManagers.length}`);
  }
  if (dataStores.length > 1) throw new ConfigError(`at most one DataStore plugin may be configured, found ${dataStores.length}`);

  return {
    databasePath: readDataStore(dataStores[0], dataDir),
    keyManager: readKeyManager(keyManagers[0] as EnabledPlugin, dataDir),
    nodeAttestors: readNodeAttestors(nodeAttestors),
  };
}

/** Reads the NodeAttestor blocks. join_token takes no settings and needs no entry, because it is built in. */
function readNodeAttestors(plugins: EnabledPlugin[]): ServerNodeAttestorsConfig {
  const attestors: ServerNodeAttestorsConfig = {};
  for (const plugin of plugins) {
    const path = `${plugin.path}.plugin_data`;
    if (plugin.name === "x509pop") {
      attestors.x509pop = parseX509popServerConfig(plugin.data, path);
    } else {
      checkServerKeys(plugin.data, path, [], []);
    }
  }
  return attestors;
}

function enabledPlugins(block: ConfigBlock, type: string): EnabledPlugin[] {
  if (block[type] === undefined) return [];
  const names = SERVER_PLUGIN_NAMES[type] as { supported: readonly string[]; unsupported: readonly string[] };
  const byName = asBlock(block[type], `plugins.${type}`);
  const enabled: EnabledPlugin[] = [];

  for (const [name, rawPlugin] of Object.entries(byName)) {
    const path = `plugins.${type}.${name}`;
    const plugin = asBlock(rawPlugin, path);
    checkServerKeys(plugin, path, SUPPORTED_PLUGIN_OPTIONS, UNSUPPORTED_PLUGIN_OPTIONS);
    if (readBoolean(plugin, "enabled", path) === false) continue;

    if (names.unsupported.includes(name)) {
      throw new ConfigError(`${type} plugin "${name}" is not supported yet by tessera-server; remove ${path}`);
    }
    if (!names.supported.includes(name)) {
      const known = names.supported.length === 0 ? "none yet" : names.supported.map((known) => `"${known}"`).join(", ");
      throw new ConfigError(`unknown ${type} plugin "${name}" at ${path}; tessera-server has ${known}`);
    }
    enabled.push({ name, path, data: plugin.plugin_data === undefined ? {} : asBlock(plugin.plugin_data, `${path}.plugin_data`) });
  }
  return enabled;
}

function readDataStore(plugin: EnabledPlugin | undefined, dataDir: string): string {
  const fallback = join(dataDir, "datastore.sqlite3");
  if (plugin === undefined) return fallback;

  const path = `${plugin.path}.plugin_data`;
  checkServerKeys(plugin.data, path, ["connection_string", "database_type"], ["ro_connection_string", "conn_max_lifetime", "max_open_conns", "max_idle_conns", "disable_migration"]);
  const databaseType = readString(plugin.data, "database_type", path) ?? "sqlite3";
  if (databaseType !== "sqlite3") {
    throw new ConfigError(`${path}.database_type "${databaseType}" is not supported yet by tessera-server; use "sqlite3"`);
  }

  const connection = readString(plugin.data, "connection_string", path);
  if (connection === undefined || connection === "") return fallback;
  const file = connection.startsWith("file:") ? connection.slice("file:".length) : connection;
  if (file.includes("?")) {
    throw new ConfigError(`${path}.connection_string must be a file path; SQLite URI parameters ("?...") are not supported`);
  }
  return file;
}

function readKeyManager(plugin: EnabledPlugin, dataDir: string): ServerKeyManagerConfig {
  const path = `${plugin.path}.plugin_data`;
  if (plugin.name === "memory") {
    checkServerKeys(plugin.data, path, [], []);
    return { kind: "memory" };
  }

  checkServerKeys(plugin.data, path, ["keys_path"], []);
  const keysPath = readString(plugin.data, "keys_path", path) ?? join(dataDir, "keys.json");
  // NOTE: the shared disk KeyManager stores keys in <folder>/keys.json, so the file name is fixed.
  if (!keysPath.endsWith("/keys.json") && keysPath !== "keys.json") {
    throw new ConfigError(`${path}.keys_path must name a file called keys.json, got ${JSON.stringify(keysPath)}`);
  }
  return { kind: "disk", keysPath };
}

function checkTrustDomain(text: string): string {
  try {
    return parseTrustDomain(text);
  } catch (error) {
    throw new ConfigError(`server.trust_domain: ${(error as Error).message}`);
  }
}

function checkPort(port: number): number {
  if (!Number.isInteger(port) || port < 0 || port > 65535) {
    throw new ConfigError(`server.bind_port must be between 0 and 65535 (0 picks a free port), got ${port}`);
  }
  return port;
}

function checkSocketPath(path: string): string {
  if (path === "") throw new ConfigError("server.socket_path must not be empty");
  if (Buffer.byteLength(path) > MAX_SOCKET_PATH_BYTES) {
    throw new ConfigError(`server.socket_path is longer than ${MAX_SOCKET_PATH_BYTES} bytes, which Unix sockets do not allow: ${path}`);
  }
  return path;
}

function checkLogLevel(level: string): string {
  try {
    toPinoLevel(level);
  } catch (error) {
    throw new ConfigError(`server.log_level: ${(error as Error).message}`);
  }
  return level;
}

function checkLogFormat(format: string): "json" {
  if (format.toLowerCase() === "json") return "json";
  if (format.toLowerCase() === "text") {
    throw new ConfigError('server.log_format "text" is not supported yet by tessera-server; use "json"');
  }
  throw new ConfigError(`server.log_format must be "json", got ${JSON.stringify(format)}`);
}

function checkCaKeyType(keyType: string | undefined): void {
  if (keyType !== undefined && keyType !== "ec-p256") {
    throw new ConfigError(`server.ca_key_type "${keyType}" is not supported yet by tessera-server; use "ec-p256"`);
  }
}

function emptyToUndefined(value: string | undefined): string | undefined {
  return value === "" ? undefined : value;
}
