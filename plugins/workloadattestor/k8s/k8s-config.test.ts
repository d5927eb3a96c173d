import { describe, expect, it } from "vitest";
import { ConfigError } from "../../../src/config/config-error.js";
import { parseK8sAttestorConfig } from "./k8s-config.js";

describe("k8s attestor configuration", () => {
  it("uses SPIRE's defaults", () => {
    expect(parseK8sAttestorConfig({})).toEqual({
      kubelet: {
        kind: "secure",
        port: 10250,
        skipVerification: false,
        caPath: "/var/run/secrets/kubernetes.io/serviceaccount/ca.crt",
        auth: { kind: "token", tokenPath: "/var/run/secrets/kubernetes.io/serviceaccount/token" },
      },
      maxPollAttempts: 60,
      pollRetryIntervalMs: 500,
      nodeNameEnv: "MY_NODE_NAME",
      reloadIntervalMs: 60_000,
      disableContainerSelectors: false,
      verboseContainerLocatorLogs: false,
    });
    expect(parseK8sAttestorConfig(undefined)).toEqual(parseK8sAttestorConfig({}));
  });

  it("reads the secure port settings", () => {
    const config = parseK8sAttestorConfig({
      kubelet_secure_port: "10260",
      kubelet_ca_path: "/etc/kubelet/ca.pem",
      skip_kubelet_verification: true,
      certificate_path: "/etc/agent/cert.pem",
      private_key_path: "/etc/agent/key.pem",
      node_name: "node-a",
      max_poll_attempts: 5,
      poll_retry_interval: "1s",
      reload_interval: "5m",
      disable_container_selectors: true,
      use_new_container_locator: true,
      verbose_container_locator_logs: true,
    });

    expect(config).toEqual({
      kubelet: {
        kind: "secure",
        port: 10260,
        skipVerification: true,
        caPath: "/etc/kubelet/ca.pem",
        auth: { kind: "client-certificate", certificatePath: "/etc/agent/cert.pem", privateKeyPath: "/etc/agent/key.pem" },
      },
      maxPollAttempts: 5,
      pollRetryIntervalMs: 1000,
      nodeName: "node-a",
      nodeNameEnv: "MY_NODE_NAME",
      reloadIntervalMs: 300_000,
      disableContainerSelectors: true,
      verboseContainerLocatorLogs: true,
    });
  });

  it("reads the read-only port", () => {
    expect(parseK8sAttestorConfig({ kubelet_read_only_port: 10255 }).kubelet).toEqual({ kind: "read-only", port: 10255 });
  });

  it("treats zero as the default", () => {
    const config = parseK8sAttestorConfig({ max_poll_attempts: 0, poll_retry_interval: "0s", kubelet_read_only_port: 0 });

    expect(config.maxPollAttempts).toBe(60);
    expect(config.pollRetryIntervalMs).toBe(500);
    expect(config.kubelet.kind).toBe("secure");
  });

  it("reads anonymous authentication", () => {
    const config = parseK8sAttestorConfig({ use_anonymous_authentication: true });

    expect(config.kubelet).toMatchObject({ kind: "secure", auth: { kind: "anonymous" } });
  });

  const rejected: [string, Record<string, unknown>, RegExp][] = [
    ["unknown key", { kubelet_port: 1 }, /unknown option plugin_data\.kubelet_port/],
    ["both ports", { kubelet_read_only_port: 1, kubelet_secure_port: 2 }, /not both/],
    ["port out of range", { kubelet_secure_port: 70000 }, /kubelet_secure_port must be a TCP port/],
    ["certificate without key", { certificate_path: "/c" }, /private_key_path is required/],
    ["key without certificate", { private_key_path: "/k" }, /certificate_path is required/],
    ["anonymous with token", { use_anonymous_authentication: true, token_path: "/t" }, /use_anonymous_authentication cannot be combined/],
    ["negative attempts", { max_poll_attempts: -1 }, /max_poll_attempts must not be negative/],
    ["bad interval", { poll_retry_interval: "soon" }, /poll_retry_interval must be a duration/],
    ["legacy locator", { use_new_container_locator: false }, /use_new_container_locator = false is not supported/],
    ["experimental sigstore", { experimental: { sigstore: {} } }, /experimental is not supported yet/],
    ["wrong type", { skip_kubelet_verification: "yes" }, /skip_kubelet_verification must be true or false/],
  ];

  for (const [name, pluginData, message] of rejected) {
    it(`rejects ${name}`, () => {
      expect(() => parseK8sAttestorConfig(pluginData)).toThrow(ConfigError);
      expect(() => parseK8sAttestorConfig(pluginData)).toThrow(message);
    });
  }
});
