import { ConfigError } from "../../config/config-error.js";
import type { ConfigBlock } from "../../config/config-values.js";
import { asBlock, readBoolean, readDuration, readInteger, readString, readStringList } from "../../config/config-values.js";
import { checkKeys } from "../../config/check-keys.js";
import { MIN_AVAILABILITY_TARGET_MS } from "../manager/rotation.js";
import { acceptMatchingValues, MATCHING_AGENT_VALUES, MATCHING_EXPERIMENTAL_VALUES } from "./matching-value-options.js";
import {
  SUPPORTED_AGENT_OPTIONS,
  SUPPORTED_EXPERIMENTAL_OPTIONS,
  UNSUPPORTED_AGENT_OPTIONS,
  UNSUPPORTED_EXPERIMENTAL_OPTIONS,
} from "./known-options.js";

/** Settings of the `agent {}` block (or of flags), before defaults and cross-checks. */
export interface AgentSettings {
  dataDir?: string;
  logLevel?: string;
  logFormat?: string;
  logFile?: string;
  logSelectors?: string[];
  adminSocketPath?: string;
  serverAddress?: string;
  serverPort?: number;
  socketPath?: string;
  trustBundlePath?: string;
  trustBundleFormat?: string;
  trustDomain?: string;
  insecureBootstrap?: boolean;
  joinToken?: string;
  joinTokenFile?: string;
  workloadX509SvidKeyType?: string;
  x509SvidCacheMaxSize?: number;
  jwtSvidCacheMaxSize?: number;
  allowUnauthenticatedVerifiers?: boolean;
  allowedForeignJwtClaims?: string[];
  syncIntervalMs?: number;
  jwtSvidCacheHitTimeoutMs?: number;
  availabilityTargetMs?: number;
  runtimeDir?: string;
}

/**
 * Reads the `agent {}` block. Unknown settings and settings Tessera does not implement are
 * rejected with their name; values of the wrong type too.
 */
export function readAgentBlock(raw: unknown): AgentSettings {
  const block = acceptMatchingValues(asBlock(raw, "agent"), "agent", MATCHING_AGENT_VALUES);
  checkKeys(block, "agent", SUPPORTED_AGENT_OPTIONS, UNSUPPORTED_AGENT_OPTIONS);

  const settings: AgentSettings = {
    dataDir: readString(block, "data_dir", "agent"),
    logLevel: readString(block, "log_level", "agent"),
    logFormat: readString(block, "log_format", "agent"),
    logFile: readString(block, "log_file", "agent"),
    logSelectors: readStringList(block, "log_selectors", "agent"),
    adminSocketPath: readString(block, "admin_socket_path", "agent"),
    serverAddress: readString(block, "server_address", "agent"),
    serverPort: readPort(block),
    socketPath: readString(block, "socket_path", "agent"),
    trustBundlePath: readString(block, "trust_bundle_path", "agent"),
    trustBundleFormat: readString(block, "trust_bundle_format", "agent"),
    trustDomain: readString(block, "trust_domain", "agent"),
    insecureBootstrap: readBoolean(block, "insecure_bootstrap", "agent"),
    joinToken: readString(block, "join_token", "agent"),
    joinTokenFile: readString(block, "join_token_file", "agent"),
    workloadX509SvidKeyType: readString(block, "workload_x509_svid_key_type", "agent"),
    runtimeDir: readString(block, "runtime_dir", "agent"),
    x509SvidCacheMaxSize: readInteger(block, "x509_svid_cache_max_size", "agent"),
    jwtSvidCacheMaxSize: readInteger(block, "jwt_svid_cache_max_size", "agent"),
    allowUnauthenticatedVerifiers: readBoolean(block, "allow_unauthenticated_verifiers", "agent"),
    allowedForeignJwtClaims: readStringList(block, "allowed_foreign_jwt_claims", "agent"),
    availabilityTargetMs: readAvailabilityTarget(block),
  };

  if (block.experimental !== undefined) {
    const experimental = acceptMatchingValues(asBlock(block.experimental, "agent.experimental"), "agent.experimental", MATCHING_EXPERIMENTAL_VALUES);
    checkKeys(experimental, "agent.experimental", SUPPORTED_EXPERIMENTAL_OPTIONS, UNSUPPORTED_EXPERIMENTAL_OPTIONS);
    settings.syncIntervalMs = readDuration(experimental, "sync_interval", "agent.experimental");
    settings.jwtSvidCacheHitTimeoutMs = readDuration(experimental, "jwt_svid_cache_hit_timeout", "agent.experimental");
  }

  return dropUndefined(settings);
}

/** Returns a copy without undefined values, so spreading it over defaults keeps the defaults. */
export function dropUndefined<T extends object>(settings: T): T {
  return Object.fromEntries(Object.entries(settings).filter(([, value]) => value !== undefined)) as T;
}

/** Reads `availability_target`, which SPIRE requires to be at least 24h. */
function readAvailabilityTarget(block: ConfigBlock): number | undefined {
  const target = readDuration(block, "availability_target", "agent");
  if (target !== undefined && target < MIN_AVAILABILITY_TARGET_MS) {
    throw new ConfigError(`agent.availability_target must be at least 24h, got ${JSON.stringify(block.availability_target)}`);
  }
  return target;
}

function readPort(block: ConfigBlock): number | undefined {
  const port = readInteger(block, "server_port", "agent");
  if (port !== undefined && (port < 1 || port > 65535)) {
    throw new ConfigError(`agent.server_port must be between 1 and 65535, got ${port}`);
  }
  return port;
}
