import { afterEach, describe, expect, it } from "vitest";

import { captureLogger } from "../../workload-api/test-logger.js";
import type { HealthChecksConfig } from "../config/health-checks-block.js";
import type { HttpListener } from "../telemetry/http-listener.js";
import { sendTestRequest } from "../telemetry/test-http.js";
import type { TestHttpResponse } from "../telemetry/test-http.js";
import type { AgentHealth, AgentHealthReport } from "./agent-health.js";
import { startHealthEndpoint } from "./health-endpoint.js";

const CONFIG: HealthChecksConfig = { listenerEnabled: true, bindAddress: "127.0.0.1", bindPort: 0, livePath: "/live", readyPath: "/ready" };
let listener: HttpListener | undefined;

afterEach(async () => {
  await listener?.close();
  listener = undefined;
});

/** A health source that returns `report` as it is at each request. */
function fixedHealth(report: AgentHealthReport): AgentHealth {
  return { check: async () => report };
}

function send(method: string, path: string): Promise<TestHttpResponse> {
  return sendTestRequest(listener?.port, method, path);
}

const degradedReport: AgentHealthReport = {
  live: true,
  ready: true,
  subsystems: {
    agent: { live: true, ready: true, details: { workload_api: "serving" } },
    manager: { live: true, ready: true, details: { server_reachable: false, degraded: true } },
  },
};

describe("health endpoint", () => {
  it("returns 200 and SPIRE's body shape when live and ready", async () => {
    listener = await startHealthEndpoint(CONFIG, fixedHealth(degradedReport), captureLogger().logger);

    const ready = await send("GET", "/ready");
    const live = await send("GET", "/live");

    expect(ready.status).toBe(200);
    expect(ready.contentType).toBe("application/json");
    expect(JSON.parse(ready.body)).toEqual({
      agent: { live: true, ready: true, workload_api: "serving" },
      manager: { live: true, ready: true, server_reachable: false, degraded: true },
    });
    expect(live.status).toBe(200);
  });

  it("returns 500 from the check that fails only", async () => {
    const report: AgentHealthReport = {
      live: true,
      ready: false,
      subsystems: { agent: { live: true, ready: false, details: { started: false } } },
    };
    listener = await startHealthEndpoint(CONFIG, fixedHealth(report), captureLogger().logger);

    expect((await send("GET", "/ready")).status).toBe(500);
    expect((await send("GET", "/live")).status).toBe(200);
  });

  it("serves the configured paths", async () => {
    listener = await startHealthEndpoint({ ...CONFIG, livePath: "/healthz", readyPath: "/readyz" }, fixedHealth(degradedReport), captureLogger().logger);

    expect((await send("GET", "/readyz")).status).toBe(200);
    expect((await send("GET", "/healthz?verbose=1")).status).toBe(200);
    const missing = await send("GET", "/ready");
    expect(missing.status).toBe(404);
    expect(missing.body).toContain("/healthz and /readyz");
  });

  it("answers HEAD without a body and rejects other methods", async () => {
    listener = await startHealthEndpoint(CONFIG, fixedHealth(degradedReport), captureLogger().logger);

    const head = await send("HEAD", "/ready");
    const post = await send("POST", "/ready");

    expect(head.status).toBe(200);
    expect(head.body).toBe("");
    expect(post.status).toBe(405);
  });

  it("returns 500 with the reason when the check fails", async () => {
    const captured = captureLogger();
    listener = await startHealthEndpoint(CONFIG, { check: () => Promise.reject(new Error("probe crashed")) }, captured.logger);

    const response = await send("GET", "/live");

    expect(response.status).toBe(500);
    expect(JSON.parse(response.body)).toEqual({ health: { error: "failed to check the agent's health: probe crashed" } });
    expect(captured.lines.some((line) => line.msg === "Failed to check the agent's health")).toBe(true);
  });

  it("logs where it listens", async () => {
    const captured = captureLogger();
    listener = await startHealthEndpoint(CONFIG, fixedHealth(degradedReport), captured.logger);

    const line = captured.lines.find((entry) => entry.msg === "Serving health checks");
    expect(line?.address).toBe(`127.0.0.1:${listener.port}`);
    expect(captured.lines.some((entry) => entry.level === 40)).toBe(false);
  });

  it("rejects a port in use with the address", async () => {
    listener = await startHealthEndpoint(CONFIG, fixedHealth(degradedReport), captureLogger().logger);

    await expect(startHealthEndpoint({ ...CONFIG, bindPort: listener.port }, fixedHealth(degradedReport), captureLogger().logger)).rejects.toThrow(
      `failed to serve health checks on 127.0.0.1:${listener.port}: listen EADDRINUSE`,
    );
  });
});
