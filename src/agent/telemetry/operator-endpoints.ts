import type { Logger } from "../../common/log.js";
import type { AgentConfig } from "../config/agent-config.js";
import { createAgentHealth } from "../health/agent-health.js";
import { startHealthEndpoint } from "../health/health-endpoint.js";
import { createWorkloadApiProbe } from "../health/workload-api-probe.js";
import type { AgentMetrics } from "./agent-metrics.js";
import { checkListenAddress } from "./http-listener.js";
import type { HttpListener } from "./http-listener.js";
import { startPrometheusEndpoint } from "./prometheus-endpoint.js";
import type { AgentStateSources } from "./tessera-gauges.js";

/** Settings for {@link startOperatorEndpoints}. */
export interface OperatorEndpointsOptions {
  config: Pick<AgentConfig, "telemetry" | "healthChecks" | "socketPath" | "syncIntervalMs">;
  metrics: AgentMetrics;
  sources: AgentStateSources;
  /** Tells whether the Workload API endpoint has been started. */
  workloadApiStarted: () => boolean;
  logger: Logger;
}

/** The HTTP endpoints for operators that the configuration enabled. */
export interface OperatorEndpoints {
  /** Bound port of the Prometheus endpoint; undefined when `telemetry { Prometheus {} }` is absent. */
  readonly prometheusPort?: number;
  /** Bound port of the health endpoint; undefined unless `health_checks { listener_enabled = true }`. */
  readonly healthPort?: number;
  close(): Promise<void>;
}

/**
 * Checks that the configured Prometheus and health addresses can be bound, so that a port
 * in use stops the agent before node attestation spends a single-use join token.
 */
export async function checkOperatorAddresses(config: Pick<AgentConfig, "telemetry" | "healthChecks">): Promise<void> {
  const prometheus = config.telemetry.prometheus;
  if (prometheus !== undefined) {
    await checkListenAddress(prometheus.host, prometheus.port, "Prometheus metrics");
  }
  if (config.healthChecks.listenerEnabled) {
    await checkListenAddress(config.healthChecks.bindAddress, config.healthChecks.bindPort, "health checks");
  }
}

/**
 * Points the metrics at the running agent and starts the Prometheus endpoint
 * (`telemetry { Prometheus {} }`) and the HTTP health endpoint
 * (`health_checks { listener_enabled = true }`) when configured. Rejects when a port
 * cannot be bound, after closing what it started.
 */
export async function startOperatorEndpoints(options: OperatorEndpointsOptions): Promise<OperatorEndpoints> {
  const { config, metrics, sources } = options;
  metrics.observe(sources);

  const prometheus = config.telemetry.prometheus;
  const metricsListener: HttpListener | undefined =
    prometheus === undefined
      ? undefined
      : await startPrometheusEndpoint({ ...prometheus, registry: metrics.registry, logger: options.logger.child({ subsystem: "telemetry" }) });

  let healthListener: HttpListener | undefined;
  if (config.healthChecks.listenerEnabled) {
    const health = createAgentHealth({
      sources,
      workloadApiStarted: options.workloadApiStarted,
      probeWorkloadApi: createWorkloadApiProbe({ socketPath: config.socketPath }),
      syncIntervalMs: config.syncIntervalMs,
    });
    try {
      healthListener = await startHealthEndpoint(config.healthChecks, health, options.logger.child({ subsystem: "health" }));
    } catch (error) {
      await metricsListener?.close();
      throw error;
    }
  }

  return {
    prometheusPort: metricsListener?.port,
    healthPort: healthListener?.port,
    async close() {
      await Promise.all([metricsListener?.close(), healthListener?.close()]);
    },
  };
}
