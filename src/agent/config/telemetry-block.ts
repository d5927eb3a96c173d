import { checkKeys } from "../../config/check-keys.js";
import { ConfigError } from "../../config/config-error.js";
import { asBlock, readBoolean, readInteger, readString } from "../../config/config-values.js";
import {
  SUPPORTED_PROMETHEUS_OPTIONS,
  SUPPORTED_TELEMETRY_OPTIONS,
  UNSUPPORTED_PROMETHEUS_OPTIONS,
  UNSUPPORTED_TELEMETRY_OPTIONS,
} from "./known-options.js";

/** Default `MetricPrefix`, the same as spire-agent's. */
export const DEFAULT_METRIC_PREFIX = "spire_agent";

/** Default `Prometheus { host }`, the same as spire-agent's. */
export const DEFAULT_PROMETHEUS_HOST = "localhost";

/** Settings of the `telemetry {}` block, with defaults applied. */
export interface TelemetryConfig {
  /** The Prometheus endpoint; undefined when the block has no `Prometheus {}`, and then nothing listens. */
  prometheus?: { host: string; port: number };
  /** First part of the name of every metric SPIRE's agent also has (`MetricPrefix`). */
  metricPrefix: string;
  /** Adds a `trust_domain` label to those metrics (`EnableTrustDomainLabel`); off by default. */
  enableTrustDomainLabel: boolean;
  /** Adds a `host` label with the host name to those gauges (`EnableHostnameLabel`); on by default, as in SPIRE. */
  enableHostnameLabel: boolean;
}

/** Prometheus metric names allow these characters; SPIRE turns ` .=-/` into `_` first. */
const PROMETHEUS_NAME = /^[a-zA-Z_:][a-zA-Z0-9_:]*$/;

/**
 * Reads the `telemetry {}` block (undefined when absent). Sinks and filters Tessera does
 * not implement (DogStatsd, Statsd, M3, InMem, the prefix and label filters, Prometheus
 * TLS) are rejected by name.
 */
export function readTelemetryBlock(raw: unknown): TelemetryConfig {
  const defaults: TelemetryConfig = { metricPrefix: DEFAULT_METRIC_PREFIX, enableTrustDomainLabel: false, enableHostnameLabel: true };
  if (raw === undefined) {
    return defaults;
  }

  const block = asBlock(raw, "telemetry");
  checkKeys(block, "telemetry", SUPPORTED_TELEMETRY_OPTIONS, UNSUPPORTED_TELEMETRY_OPTIONS);

  return {
    prometheus: block.Prometheus === undefined ? undefined : readPrometheusBlock(block.Prometheus),
    metricPrefix: checkMetricPrefix(readString(block, "MetricPrefix", "telemetry")),
    enableTrustDomainLabel: readBoolean(block, "EnableTrustDomainLabel", "telemetry") ?? defaults.enableTrustDomainLabel,
    enableHostnameLabel: readBoolean(block, "EnableHostnameLabel", "telemetry") ?? defaults.enableHostnameLabel,
  };
}

function readPrometheusBlock(raw: unknown): { host: string; port: number } {
  const path = "telemetry.Prometheus";
  const block = asBlock(raw, path);
  checkKeys(block, path, SUPPORTED_PROMETHEUS_OPTIONS, UNSUPPORTED_PROMETHEUS_OPTIONS);

  const host = readString(block, "host", path);
  const port = readInteger(block, "port", path);
  // SPIRE would listen on a random port without one, which no scraper can find.
  if (port === undefined) {
    throw new ConfigError(`${path}.port is required, e.g. port = 9988`);
  }
  if (port < 0 || port > 65535) {
    throw new ConfigError(`${path}.port must be between 0 and 65535, got ${port}`);
  }
  return { host: host === undefined || host === "" ? DEFAULT_PROMETHEUS_HOST : host, port };
}

/** Applies SPIRE's character replacement to `MetricPrefix` and checks that the result can start a Prometheus name. */
function checkMetricPrefix(prefix: string | undefined): string {
  if (prefix === undefined || prefix === "") {
    return DEFAULT_METRIC_PREFIX;
  }

  const replaced = prefix.replace(/[ .=\-/]/g, "_");
  if (!PROMETHEUS_NAME.test(replaced)) {
    throw new ConfigError(
      `telemetry.MetricPrefix ${JSON.stringify(prefix)} cannot start a Prometheus metric name: use letters, digits, "_" and ":", not starting with a digit`,
    );
  }
  return replaced;
}
