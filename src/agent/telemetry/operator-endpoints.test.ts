import { createServer } from "node:net";
import type { Server } from "node:net";

import { pino } from "pino";
import { afterEach, describe, expect, it } from "vitest";

import { createJwtSvidCache } from "../cache/jwt-svid-cache.js";
import { createX509Cache } from "../cache/x509-cache.js";
import type { X509Cache } from "../cache/x509-cache.js";
import type { HealthChecksConfig } from "../config/health-checks-block.js";
import type { TelemetryConfig } from "../config/telemetry-block.js";
import { createServerReachability } from "../manager/server-reachability.js";
import { createAgentMetrics } from "./agent-metrics.js";
import { checkOperatorAddresses, startOperatorEndpoints } from "./operator-endpoints.js";
import type { OperatorEndpoints } from "./operator-endpoints.js";
import { sendTestRequest } from "./test-http.js";

const logger = pino({ level: "silent" });
const TELEMETRY: TelemetryConfig = { prometheus: { host: "127.0.0.1", port: 0 }, metricPrefix: "spire_agent", enableTrustDomainLabel: false, enableHostnameLabel: false };
const HEALTH: HealthChecksConfig = { listenerEnabled: true, bindAddress: "127.0.0.1", bindPort: 0, livePath: "/live", readyPath: "/ready" };

let endpoints: OperatorEndpoints | undefined;
let cache: X509Cache | undefined;
let blocker: Server | undefined;

afterEach(async () => {
  await endpoints?.close();
  endpoints = undefined;
  cache?.close();
  blocker?.close();
  blocker = undefined;
});

async function start(telemetry: TelemetryConfig, healthChecks: HealthChecksConfig): Promise<OperatorEndpoints> {
  cache = createX509Cache({ trustDomain: "example.org", bundle: [Buffer.from("root")], logger });
  const metrics = createAgentMetrics({ telemetry, trustDomain: "example.org", version: "1.2.3" });
  endpoints = await startOperatorEndpoints({
    config: { telemetry, healthChecks, socketPath: "/nonexistent/api.sock", syncIntervalMs: 5_000 },
    metrics,
    sources: {
      x509Cache: cache,
      jwtSvidCache: createJwtSvidCache({ mint: () => Promise.reject(new Error("no server")), maxSize: 10, serverUnreachable: () => true, logger }),
      reachability: createServerReachability(logger),
      agentSvid: () => ({ spiffeId: "spiffe://example.org/agent", notAfterMs: Date.now() + 3_600_000 }),
    },
    workloadApiStarted: () => false,
    logger,
  });
  return endpoints;
}

/** Binds a loopback port and keeps it, so nothing else can listen on it. */
async function occupyPort(): Promise<number> {
  blocker = createServer();
  const server = blocker;
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const address = server.address();
  return typeof address === "object" && address !== null ? address.port : 0;
}

describe("startOperatorEndpoints", () => {
  it("serves metrics and health checks on their ports", async () => {
    const started = await start(TELEMETRY, HEALTH);

    const metrics = await sendTestRequest(started.prometheusPort, "GET", "/metrics");
    const ready = await sendTestRequest(started.healthPort, "GET", "/ready");
    const live = await sendTestRequest(started.healthPort, "GET", "/live");

    expect(metrics.body).toContain("tessera_agent_server_reachable 1");
    expect(metrics.body).toContain("process_cpu_user_seconds_total");
    // The Workload API has not started, so the agent is starting: live, not ready.
    expect(ready.status).toBe(500);
    expect(JSON.parse(ready.body).agent).toMatchObject({ ready: false, started: false, workload_api: "not_started" });
    expect(live.status).toBe(200);
  });

  it("starts nothing that is not configured", async () => {
    const started = await start({ ...TELEMETRY, prometheus: undefined }, { ...HEALTH, listenerEnabled: false });

    expect(started.prometheusPort).toBeUndefined();
    expect(started.healthPort).toBeUndefined();
  });

  it("stops listening on close", async () => {
    const started = await start(TELEMETRY, HEALTH);

    await started.close();

    await expect(sendTestRequest(started.prometheusPort, "GET", "/metrics")).rejects.toThrow("ECONNREFUSED");
    await expect(sendTestRequest(started.healthPort, "GET", "/live")).rejects.toThrow("ECONNREFUSED");
  });
});

describe("checkOperatorAddresses", () => {
  it("accepts free addresses", async () => {
    await expect(checkOperatorAddresses({ telemetry: TELEMETRY, healthChecks: HEALTH })).resolves.toBeUndefined();
  });

  it("rejects a health port in use", async () => {
    const port = await occupyPort();

    await expect(checkOperatorAddresses({ telemetry: TELEMETRY, healthChecks: { ...HEALTH, bindPort: port } })).rejects.toThrow(
      `failed to serve health checks on 127.0.0.1:${port}: listen EADDRINUSE`,
    );
  });

  it("rejects a Prometheus port in use", async () => {
    const port = await occupyPort();

    await expect(
      checkOperatorAddresses({ telemetry: { ...TELEMETRY, prometheus: { host: "127.0.0.1", port } }, healthChecks: { ...HEALTH, listenerEnabled: false } }),
    ).rejects.toThrow(`failed to serve Prometheus metrics on 127.0.0.1:${port}`);
  });

  it("ignores a health port while the listener is off", async () => {
    const port = await occupyPort();

    await expect(checkOperatorAddresses({ telemetry: { ...TELEMETRY, prometheus: undefined }, healthChecks: { ...HEALTH, listenerEnabled: false, bindPort: port } })).resolves.toBeUndefined();
  });
});
