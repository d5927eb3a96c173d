import { Counter, Registry } from "prom-client";
import { afterEach, expect, it } from "vitest";

import { captureLogger } from "../../workload-api/test-logger.js";
import type { HttpListener } from "./http-listener.js";
import { startPrometheusEndpoint } from "./prometheus-endpoint.js";
import { sendTestRequest } from "./test-http.js";
import type { TestHttpResponse } from "./test-http.js";

let listener: HttpListener | undefined;

afterEach(async () => {
  await listener?.close();
  listener = undefined;
});

function send(method: string, path: string): Promise<TestHttpResponse> {
  return sendTestRequest(listener?.port, method, path);
}

function registryWithCounter(): Registry {
  const registry = new Registry();
  new Counter({ name: "spire_agent_test_calls", help: "Calls in this test.", registers: [registry] }).inc(3);
  return registry;
}

it("serves the registry in the Prometheus text format", async () => {
  listener = await startPrometheusEndpoint({ host: "127.0.0.1", port: 0, registry: registryWithCounter(), logger: captureLogger().logger });

  const response = await send("GET", "/metrics");

  expect(response.status).toBe(200);
  expect(response.contentType).toBe("text/plain; version=0.0.4; charset=utf-8");
  expect(response.body).toContain("# TYPE spire_agent_test_calls counter\nspire_agent_test_calls 3\n");
});

it("serves the metrics on any path, as SPIRE's exporter does", async () => {
  listener = await startPrometheusEndpoint({ host: "127.0.0.1", port: 0, registry: registryWithCounter(), logger: captureLogger().logger });

  expect((await send("GET", "/")).body).toContain("spire_agent_test_calls 3");
});

it("rejects methods other than GET and HEAD", async () => {
  listener = await startPrometheusEndpoint({ host: "127.0.0.1", port: 0, registry: registryWithCounter(), logger: captureLogger().logger });

  const response = await send("POST", "/metrics");

  expect(response.status).toBe(405);
});

it("logs the bound port", async () => {
  const captured = captureLogger();
  listener = await startPrometheusEndpoint({ host: "127.0.0.1", port: 0, registry: registryWithCounter(), logger: captured.logger });

  const line = captured.lines.find((entry) => entry.msg === "Serving Prometheus metrics");
  expect(line?.port).toBe(listener.port);
  expect(line?.host).toBe("127.0.0.1");
});

it("rejects a port in use with the address", async () => {
  listener = await startPrometheusEndpoint({ host: "127.0.0.1", port: 0, registry: registryWithCounter(), logger: captureLogger().logger });

  await expect(startPrometheusEndpoint({ host: "127.0.0.1", port: listener.port, registry: new Registry(), logger: captureLogger().logger })).rejects.toThrow(
    `failed to serve Prometheus metrics on 127.0.0.1:${listener.port}`,
  );
});
