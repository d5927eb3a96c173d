import { X509Certificate } from "node:crypto";
import { readFileSync } from "node:fs";
import { resolve } from "node:path";

import { toPinoLevel } from "../../common/log.js";
import { checkAdminSocketPath } from "../admin/admin-socket-path.js";
import { formatDuration } from "../../config/flags.js";
import { expandEnv, parseConfigText } from "../../config/hcl.js";
import { parsePemCertificates } from "../../spiffe/bundle.js";
import { parseTrustDomain } from "../../spiffe/trust-domain.js";
import type { AgentSettings } from "./agent-block.js";
import { readAgentBlock } from "./agent-block.js";
import type { AgentConfig } from "./agent-config.js";
import { DEFAULT_SOCKET_PATH, DEFAULT_SYNC_INTERVAL_MS } from "./agent-config.js";
import { checkKeys } from "../../config/check-keys.js";
import { ConfigError } from "../../config/config-error.js";
import { SUPPORTED_TOP_LEVEL_BLOCKS, UNSUPPORTED_TOP_LEVEL_BLOCKS } from "./known-options.js";
import type { PluginSettings } from "./plugins-block.js";
import { readPluginsBlock } from "./plugins-block.js";
import { readHealthChecksBlock } from "./health-checks-block.js";
import { readTelemetryBlock } from "./telemetry-block.js";
import { DEFAULT_X509_SVID_CACHE_MAX_SIZE } from "../cache/x509-cache.js";
import { DEFAULT_JWT_SVID_CACHE_MAX_SIZE } from "../cache/jwt-svid-cache.js";
import { JWT_SVID_CACHE_HIT_TIMEOUT_MS, RPC_TIMEOUT_MS } from "../client/server-client.js";

/** Longest Unix socket path Linux accepts (sun_path is 108 bytes with the final NUL). */
const MAX_SOCKET_PATH_BYTES = 107;

/** Inputs of {@link loadAgentConfig}. */
export interface LoadAgentConfigOptions {
  configPath: string;
  /** Settings from flags; they override the file. */
  overrides?: AgentSettings;
  /** Expand `$VAR` in the file first (`-expandEnv`). */
  expandEnv?: boolean;
  env?: Readonly<Record<string, string | undefined>>;
}

/**
 * Reads agent.conf (HCL or JSON), applies flag overrides and defaults, checks everything
 * and reads the join token file and the bootstrap bundle. Throws {@link ConfigError} (or
 * the HCL parser's error with file, line and column) naming the setting at fault.
 */
export function loadAgentConfig(options: LoadAgentConfigOptions): AgentConfig {
  let text: string;
  try {
    text = readFileSync(options.configPath, "utf8");
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    if (code === "ENOENT") {
      throw new ConfigError(`configuration file ${resolve(options.configPath)} not found: use the -config flag`);
    }
    throw new ConfigError(`failed to read configuration file ${options.configPath}: ${(error as Error).message}`);
  }

  if (options.expandEnv === true) {
    text = expandEnv(text, options.env ?? process.env);
  }
  return parseAgentConfig(text, options.configPath, options.overrides ?? {});
}

/** Like {@link loadAgentConfig} for configuration text already in memory; `fileName` is for messages. */
export function parseAgentConfig(text: string, fileName: string, overrides: AgentSettings = {}): AgentConfig {
  const top = parseConfigText(text, fileName);
  checkKeys(top, "", SUPPORTED_TOP_LEVEL_BLOCKS, UNSUPPORTED_TOP_LEVEL_BLOCKS);
  if (top.agent === undefined) {
    throw new ConfigError(`${fileName}: the agent block is missing`);
  }

  const fileSettings = readAgentBlock(top.agent);
  const plugins = readPluginsBlock(top.plugins);

  // A join token from a flag replaces both file settings, so they do not conflict.
  if (overrides.joinToken !== undefined || overrides.joinTokenFile !== undefined) {
    delete fileSettings.joinToken;
    delete fileSettings.joinTokenFile;
  }
  const blocks = { telemetry: readTelemetryBlock(top.telemetry), healthChecks: readHealthChecksBlock(top.health_checks) };
  return finishConfig({ ...fileSettings, ...overrides }, plugins, blocks);
}

function finishConfig(settings: AgentSettings, plugins: PluginSettings, blocks: Pick<AgentConfig, "telemetry" | "healthChecks">): AgentConfig {
  const config: AgentConfig = {
    dataDir: settings.dataDir ?? ".",
    logLevel: checkLogLevel(settings.logLevel ?? "INFO"),
    logFormat: checkLogFormat(settings.logFormat ?? "json"),
    logFile: settings.logFile === "" ? undefined : settings.logFile,
    logSelectors: checkLogSelectors(settings.logSelectors ?? []),
    serverAddress: required(settings.serverAddress, "server_address", "-serverAddress"),
    serverPort: checkPort(settings.serverPort),
    socketPath: checkSocketPath(settings.socketPath ?? DEFAULT_SOCKET_PATH),
    adminSocketPath: checkAdminSocketSetting(settings.adminSocketPath, settings.socketPath ?? DEFAULT_SOCKET_PATH),
    trustDomain: checkTrustDomain(required(settings.trustDomain, "trust_domain", "-trustDomain")),
    trustBundle: [],
    insecureBootstrap: settings.insecureBootstrap ?? false,
    joinToken: readJoinToken(settings),
    workloadX509SvidKeyType: checkKeyType(settings.workloadX509SvidKeyType ?? "ec-p256"),
    x509SvidCacheMaxSize: checkCacheSize(settings.x509SvidCacheMaxSize, "x509_svid_cache_max_size", DEFAULT_X509_SVID_CACHE_MAX_SIZE),
    jwtSvidCacheMaxSize: checkCacheSize(settings.jwtSvidCacheMaxSize, "jwt_svid_cache_max_size", DEFAULT_JWT_SVID_CACHE_MAX_SIZE),
    allowUnauthenticatedVerifiers: settings.allowUnauthenticatedVerifiers ?? false,
    allowedForeignJwtClaims: settings.allowedForeignJwtClaims ?? [],
    syncIntervalMs: checkSyncInterval(settings.syncIntervalMs),
    jwtSvidCacheHitTimeoutMs: checkCacheHitTimeout(settings.jwtSvidCacheHitTimeoutMs),
    keyManager: plugins.keyManager,
    nodeAttestor: plugins.nodeAttestor ?? { name: "join_token" },
    workloadAttestors: plugins.workloadAttestors,
    runtimeDir: settings.runtimeDir,
    availabilityTargetMs: settings.availabilityTargetMs,
    ...blocks,
  };

  const format = settings.trustBundleFormat ?? "pem";
  if (format === "spiffe") {
    throw new ConfigError('agent.trust_bundle_format "spiffe" is not supported yet by tessera-agent; use "pem"');
  }
  if (format !== "pem") {
    throw new ConfigError(`agent.trust_bundle_format must be "pem", got ${JSON.stringify(format)}`);
  }

  const bundlePath = settings.trustBundlePath === "" ? undefined : settings.trustBundlePath;
  if (config.insecureBootstrap && bundlePath !== undefined) {
    throw new ConfigError("only one of agent.insecure_bootstrap and agent.trust_bundle_path can be set");
  }
  if (!config.insecureBootstrap) {
    if (bundlePath === undefined) {
      throw new ConfigError(
        "agent.trust_bundle_path (or -trustBundle) is required to authenticate the server; insecure_bootstrap = true skips that check",
      );
    }
    config.trustBundlePath = bundlePath;
    config.trustBundle = readTrustBundle(bundlePath);
  }

  if (plugins.nodeAttestor === undefined && config.joinToken === undefined) {
    throw new ConfigError('no NodeAttestor is configured: add NodeAttestor "join_token" { plugin_data {} } and a join token');
  }
  return config;
}

function required(value: string | undefined, option: string, flag: string): string {
  if (value === undefined || value === "") {
    throw new ConfigError(`agent.${option} is required (or the ${flag} flag)`);
  }
  return value;
}

function checkPort(port: number | undefined): number {
  if (port === undefined || port === 0) {
    throw new ConfigError("agent.server_port is required (or the -serverPort flag)");
  }
  if (!Number.isInteger(port) || port < 1 || port > 65535) {
    throw new ConfigError(`agent.server_port must be between 1 and 65535, got ${port}`);
  }
  return port;
}

function checkTrustDomain(text: string): string {
  try {
    return parseTrustDomain(text);
  } catch (error) {
    throw new ConfigError(`agent.trust_domain: ${(error as Error).message}`, { cause: error });
  }
}

function checkLogLevel(level: string): string {
  try {
    toPinoLevel(level);
  } catch (error) {
    throw new ConfigError(`agent.log_level: ${(error as Error).message}`, { cause: error });
  }
  return level;
}

function checkLogSelectors(prefixes: string[]): string[] {
  for (const prefix of prefixes) {
    if (!/^[^:\s]+(:\S*)?$/.test(prefix)) {
      throw new ConfigError(`agent.log_selectors entries must look like "type" or "type:value-prefix" (e.g. "k8s:ns"), got ${JSON.stringify(prefix)}`);
    }
  }
  return prefixes;
}

function checkLogFormat(format: string): "json" | "text" {
  const lower = format.toLowerCase();
  if (lower === "json" || lower === "text") {
    return lower;
  }
  throw new ConfigError(`agent.log_format must be "json" or "text", got ${JSON.stringify(format)}`);
}

function checkAdminSocketSetting(adminSocketPath: string | undefined, socketPath: string): string | undefined {
  if (adminSocketPath === undefined || adminSocketPath === "") {
    return undefined;
  }
  try {
    return checkAdminSocketPath(adminSocketPath, socketPath);
  } catch (error) {
    throw new ConfigError(`agent.${(error as Error).message}`, { cause: error });
  }
}

function checkSocketPath(path: string): string {
  if (path === "") {
    throw new ConfigError("agent.socket_path must not be empty");
  }
  const length = Buffer.byteLength(path);
  if (length > MAX_SOCKET_PATH_BYTES) {
    throw new ConfigError(
      `agent.socket_path is ${length} bytes long; Unix socket paths are limited to ${MAX_SOCKET_PATH_BYTES} bytes, choose a shorter path`,
    );
  }
  return path;
}

function checkKeyType(keyType: string): "ec-p256" {
  if (keyType === "ec-p256") {
    return keyType;
  }
  if (keyType === "rsa-2048" || keyType === "ec-p384") {
    throw new ConfigError(`agent.workload_x509_svid_key_type "${keyType}" is not supported yet by tessera-agent; use "ec-p256"`);
  }
  throw new ConfigError(`agent.workload_x509_svid_key_type must be "ec-p256", got ${JSON.stringify(keyType)}`);
}

function checkCacheSize(size: number | undefined, name: string, defaultSize: number): number {
  if (size === undefined || size === 0) {
    return defaultSize;
  }
  if (size < 0) {
    throw new ConfigError(`agent.${name} must not be negative, got ${size}`);
  }
  return size;
}

function checkSyncInterval(intervalMs: number | undefined): number {
  if (intervalMs === undefined) {
    return DEFAULT_SYNC_INTERVAL_MS;
  }
  if (intervalMs <= 0) {
    throw new ConfigError("agent.experimental.sync_interval must be greater than zero");
  }
  return intervalMs;
}

/** SPIRE's agent rejects values outside [5 s, 30 s): shorter risks needless failures, longer defeats the purpose. */
function checkCacheHitTimeout(timeoutMs: number | undefined): number {
  if (timeoutMs === undefined) {
    return JWT_SVID_CACHE_HIT_TIMEOUT_MS;
  }
  if (timeoutMs < JWT_SVID_CACHE_HIT_TIMEOUT_MS) {
    throw new ConfigError(`agent.experimental.jwt_svid_cache_hit_timeout must be at least 5s, got ${formatDuration(timeoutMs)}`);
  }
  if (timeoutMs >= RPC_TIMEOUT_MS) {
    throw new ConfigError(`agent.experimental.jwt_svid_cache_hit_timeout must be less than 30s, got ${formatDuration(timeoutMs)}`);
  }
  return timeoutMs;
}

function readJoinToken(settings: AgentSettings): string | undefined {
  const token = settings.joinToken === "" ? undefined : settings.joinToken;
  const tokenFile = settings.joinTokenFile === "" ? undefined : settings.joinTokenFile;

  if (token !== undefined && tokenFile !== undefined) {
    throw new ConfigError("only one of agent.join_token and agent.join_token_file can be set");
  }
  if (tokenFile === undefined) {
    return token;
  }

  let content: string;
  try {
    content = readFileSync(tokenFile, "utf8").trim();
  } catch (error) {
    throw new ConfigError(`failed to read agent.join_token_file ${tokenFile}: ${(error as Error).message}`, { cause: error });
  }
  if (content === "") {
    throw new ConfigError(`agent.join_token_file ${tokenFile} is empty`);
  }
  return content;
}

function readTrustBundle(path: string): Buffer[] {
  let pem: string;
  try {
    pem = readFileSync(path, "utf8");
  } catch (error) {
    throw new ConfigError(`failed to read agent.trust_bundle_path ${path}: ${(error as Error).message}`, { cause: error });
  }

  let roots: Buffer[];
  try {
    roots = parsePemCertificates(pem);
  } catch (error) {
    throw new ConfigError(`invalid agent.trust_bundle_path ${path}: ${(error as Error).message}`, { cause: error });
  }
  if (roots.length === 0) {
    throw new ConfigError(`agent.trust_bundle_path ${path} contains no PEM certificates`);
  }

  roots.forEach((der, index) => {
    try {
      new X509Certificate(der);
    } catch (error) {
      throw new ConfigError(`invalid agent.trust_bundle_path ${path}: certificate ${index + 1} does not parse: ${(error as Error).message}`, {
        cause: error,
      });
    }
  });
  return roots;
}
