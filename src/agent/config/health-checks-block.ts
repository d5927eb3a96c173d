import { checkKeys } from "../../config/check-keys.js";
import { ConfigError } from "../../config/config-error.js";
import type { ConfigBlock } from "../../config/config-values.js";
import { asBlock, readBoolean, readInteger, readString } from "../../config/config-values.js";
import { SUPPORTED_HEALTH_CHECKS_OPTIONS } from "./known-options.js";

/** Settings of the `health_checks {}` block, with SPIRE's defaults applied. */
export interface HealthChecksConfig {
  /** Serve the HTTP health endpoint (`listener_enabled`); off by default, as in SPIRE. */
  listenerEnabled: boolean;
  /** Host name or address to listen on (`bind_address`), `localhost` by default. */
  bindAddress: string;
  /** TCP port (`bind_port`), 80 by default as in SPIRE; 0 lets the system choose one. */
  bindPort: number;
  /** Path of the liveness check (`live_path`), `/live` by default. */
  livePath: string;
  /** Path of the readiness check (`ready_path`), `/ready` by default. */
  readyPath: string;
}

/** Defaults of spire-agent's `health_checks {}` block. */
export const DEFAULT_HEALTH_CHECKS: HealthChecksConfig = {
  listenerEnabled: false,
  bindAddress: "localhost",
  bindPort: 80,
  livePath: "/live",
  readyPath: "/ready",
};

/** Reads the `health_checks {}` block; an absent block gives the defaults (listener off). */
export function readHealthChecksBlock(raw: unknown): HealthChecksConfig {
  if (raw === undefined) {
    return { ...DEFAULT_HEALTH_CHECKS };
  }

  const path = "health_checks";
  const block = asBlock(raw, path);
  checkKeys(block, path, SUPPORTED_HEALTH_CHECKS_OPTIONS, []);

  const config: HealthChecksConfig = {
    listenerEnabled: readBoolean(block, "listener_enabled", path) ?? DEFAULT_HEALTH_CHECKS.listenerEnabled,
    bindAddress: nonEmpty(readString(block, "bind_address", path)) ?? DEFAULT_HEALTH_CHECKS.bindAddress,
    bindPort: readBindPort(block),
    livePath: checkPath(block, "live_path") ?? DEFAULT_HEALTH_CHECKS.livePath,
    readyPath: checkPath(block, "ready_path") ?? DEFAULT_HEALTH_CHECKS.readyPath,
  };
  if (config.livePath === config.readyPath) {
    throw new ConfigError(`health_checks.live_path and health_checks.ready_path must differ, both are ${JSON.stringify(config.livePath)}`);
  }
  return config;
}

/** SPIRE declares `bind_port` as a string ("80"); a number is accepted too. */
function readBindPort(block: ConfigBlock): number {
  if (block.bind_port === "") {
    return DEFAULT_HEALTH_CHECKS.bindPort;
  }

  const port = readInteger(block, "bind_port", "health_checks");
  if (port === undefined) {
    return DEFAULT_HEALTH_CHECKS.bindPort;
  }
  if (port < 0 || port > 65535) {
    throw new ConfigError(`health_checks.bind_port must be between 0 and 65535, got ${port}`);
  }
  return port;
}

function checkPath(block: ConfigBlock, key: string): string | undefined {
  const value = nonEmpty(readString(block, key, "health_checks"));
  if (value !== undefined && !value.startsWith("/")) {
    throw new ConfigError(`health_checks.${key} must start with "/", got ${JSON.stringify(value)}`);
  }
  return value;
}

function nonEmpty(value: string | undefined): string | undefined {
  return value === "" ? undefined : value;
}
