import { describe, expect, it } from "vitest";

import { parseConfigText } from "../../config/hcl.js";
import { readTelemetryBlock } from "./telemetry-block.js";

/** Parses `telemetry { <body> }` as agent.conf would and reads the block. */
function read(body: string) {
  return readTelemetryBlock(parseConfigText(`telemetry {\n${body}\n}`, "agent.conf").telemetry);
}

describe("readTelemetryBlock", () => {
  it("returns SPIRE's defaults without the block", () => {
    expect(readTelemetryBlock(undefined)).toEqual({ metricPrefix: "spire_agent", enableTrustDomainLabel: false, enableHostnameLabel: true });
  });

  it("reads a Prometheus endpoint", () => {
    const config = read(`Prometheus {\n host = "127.0.0.1"\n port = 9988\n}`);

    expect(config.prometheus).toEqual({ host: "127.0.0.1", port: 9988 });
  });

  it("listens on localhost when no host is given, as SPIRE does", () => {
    expect(read("Prometheus { port = 9988 }").prometheus).toEqual({ host: "localhost", port: 9988 });
  });

  it("requires the Prometheus port", () => {
    expect(() => read('Prometheus { host = "127.0.0.1" }')).toThrow("telemetry.Prometheus.port is required");
  });

  it("rejects a port out of range", () => {
    expect(() => read("Prometheus { port = 70000 }")).toThrow("telemetry.Prometheus.port must be between 0 and 65535, got 70000");
  });

  it.each([
    ['Statsd = [{ address = "127.0.0.1:8125" }]', "telemetry.Statsd"],
    ['DogStatsd = [{ address = "127.0.0.1:8125" }]', "telemetry.DogStatsd"],
    ['M3 = [{ address = "127.0.0.1:9000" env = "prod" }]', "telemetry.M3"],
    ["InMem {}", "telemetry.InMem"],
    ['AllowedPrefixes = ["workload_api"]', "telemetry.AllowedPrefixes"],
    ['BlockedLabels = ["status"]', "telemetry.BlockedLabels"],
  ])("rejects %s by name", (body, name) => {
    expect(() => read(body)).toThrow(`option ${name} is not supported yet`);
  });

  it("rejects TLS for the Prometheus endpoint by name", () => {
    expect(() => read('Prometheus {\n port = 9988\n tls { cert_file = "a.pem" }\n}')).toThrow("option telemetry.Prometheus.tls is not supported yet");
  });

  it("rejects an unknown setting", () => {
    expect(() => read('MetricPrefx = "x"')).toThrow("unknown option telemetry.MetricPrefx");
  });

  it("reads the metric prefix and labels", () => {
    const config = read('MetricPrefix = "edge.agent"\nEnableTrustDomainLabel = true\nEnableHostnameLabel = false');

    expect(config).toEqual({ prometheus: undefined, metricPrefix: "edge_agent", enableTrustDomainLabel: true, enableHostnameLabel: false });
  });

  it("rejects a prefix that cannot start a Prometheus name", () => {
    expect(() => read('MetricPrefix = "9lives"')).toThrow('telemetry.MetricPrefix "9lives" cannot start a Prometheus metric name');
  });
});
