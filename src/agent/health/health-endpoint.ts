import type { ServerResponse } from "node:http";

import type { Logger } from "../../common/log.js";
import type { HealthChecksConfig } from "../config/health-checks-block.js";
import { isLoopbackHost, listenHttp, rejectUnlessGet } from "../telemetry/http-listener.js";
import type { HttpListener } from "../telemetry/http-listener.js";
import type { AgentHealth, AgentHealthReport } from "./agent-health.js";

/**
 * Serves `health` over HTTP on `bind_address:bind_port`: GET `live_path` and `ready_path`
 * return 200 when the agent is live (ready) and 500 otherwise, as SPIRE's agent does. The
 * body is JSON in SPIRE's shape, one key per part of the agent, each with its own `live`
 * and `ready` and details that describe what is wrong, e.g.
 * `{"agent":{"live":true,"ready":true,...},"manager":{"degraded":true,...}}`. Other paths get
 * 404. Logs "Serving health checks" with the address. Rejects when the port cannot be bound.
 */
export async function startHealthEndpoint(config: HealthChecksConfig, health: AgentHealth, logger: Logger): Promise<HttpListener> {
  const listener = await listenHttp(
    (request, response) => {
      if (rejectUnlessGet(request, response)) {
        return;
      }

      const path = new URL(request.url ?? "/", "http://health.invalid").pathname;
      if (path !== config.livePath && path !== config.readyPath) {
        response.writeHead(404, { "Content-Type": "text/plain; charset=utf-8" });
        response.end(`not found; the health checks are ${config.livePath} and ${config.readyPath}\n`);
        return;
      }

      health.check().then(
        (report) => sendReport(response, report, path === config.livePath ? report.live : report.ready, request.method === "HEAD"),
        (error: unknown) => {
          logger.error({ err: error }, "Failed to check the agent's health");
          response.writeHead(500, { "Content-Type": "application/json" });
          response.end(`${JSON.stringify({ health: { error: `failed to check the agent's health: ${(error as Error).message}` } })}\n`);
        },
      );
    },
    config.bindAddress,
    config.bindPort,
    "health checks",
  );

  if (!isLoopbackHost(config.bindAddress)) {
    logger.warn({ address: `${config.bindAddress}:${listener.port}` }, "The health check endpoint accepts connections from other hosts");
  }
  logger.info(
    { address: `${config.bindAddress}:${listener.port}`, live_path: config.livePath, ready_path: config.readyPath },
    "Serving health checks",
  );
  return listener;
}

function sendReport(response: ServerResponse, report: AgentHealthReport, healthy: boolean, headOnly: boolean): void {
  const body: Record<string, unknown> = {};
  for (const [name, subsystem] of Object.entries(report.subsystems)) {
    body[name] = { live: subsystem.live, ready: subsystem.ready, ...subsystem.details };
  }

  response.writeHead(healthy ? 200 : 500, { "Content-Type": "application/json" });
  response.end(headOnly ? undefined : `${JSON.stringify(body)}\n`);
}
