import type { Registry } from "prom-client";

import type { Logger } from "../../common/log.js";
import { isLoopbackHost, listenHttp, rejectUnlessGet } from "./http-listener.js";
import type { HttpListener } from "./http-listener.js";

/** Settings for {@link startPrometheusEndpoint}. */
export interface PrometheusEndpointOptions {
  host: string;
  /** TCP port; 0 lets the system choose one, which is logged. */
  port: number;
  registry: Registry;
  logger: Logger;
}

/**
 * Serves `registry` in the Prometheus text format on every path of `host:port`, as
 * SPIRE's exporter does, so the usual `/metrics` works. Only GET and HEAD are allowed.
 * Logs "Serving Prometheus metrics" with `host` and `port`, and a warning when `host`
 * is not a loopback name or address, because the metrics then leave the machine
 * unauthenticated. Rejects when the port cannot be bound.
 */
export async function startPrometheusEndpoint(options: PrometheusEndpointOptions): Promise<HttpListener> {
  const { registry, logger } = options;

  const listener = await listenHttp(
    (request, response) => {
      if (rejectUnlessGet(request, response)) {
        return;
      }
      registry.metrics().then(
        (text) => {
          response.writeHead(200, { "Content-Type": registry.contentType });
          response.end(request.method === "HEAD" ? undefined : text);
        },
        (error: unknown) => {
          logger.error({ err: error }, "Failed to collect metrics for a Prometheus scrape");
          response.writeHead(500, { "Content-Type": "text/plain; charset=utf-8" });
          response.end(`failed to collect metrics: ${(error as Error).message}\n`);
        },
      );
    },
    options.host,
    options.port,
    "Prometheus metrics",
  );

  if (!isLoopbackHost(options.host)) {
    logger.warn({ host: options.host, port: listener.port }, "The Prometheus endpoint accepts connections from other hosts; restrict access to its port");
  }
  logger.info({ host: options.host, port: listener.port }, "Serving Prometheus metrics");
  return listener;
}
