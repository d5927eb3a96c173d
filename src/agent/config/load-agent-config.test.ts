import { execFileSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";

import { parseFlags } from "../../config/flags.js";
import { ConfigError } from "../../config/config-error.js";
import { loadAgentConfig, parseAgentConfig } from "./load-agent-config.js";
import { RUN_FLAGS, settingsFromFlags } from "./run-flags.js";

let folder: string;
let bundlePath: string;

beforeAll(() => {
  folder = mkdtempSync(join(tmpdir(), "tessera-agent-config-"));
  bundlePath = join(folder, "bootstrap.crt");
  execFileSync(
    "openssl",
    ["req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes", "-keyout", join(folder, "ca.key"), "-out", bundlePath, "-subj", "/CN=test-ca", "-days", "1"],
    { stdio: "ignore" },
  );
});

afterAll(() => {
  rmSync(folder, { recursive: true, force: true });
});

/** An agent.conf in the shape SPIRE's quickstart and integration suites use. */
function spireStyleConf(extraAgent = "", plugins?: string): string {
  return `
agent {
    data_dir = "./.data"
    log_level = "DEBUG"
    server_address = "127.0.0.1"
    server_port = "8081"
    socket_path = "/tmp/spire-agent/public/api.sock"
    trust_bundle_path = "${bundlePath}"
    trust_domain = "example.org"
    ${extraAgent}
}

plugins {
${
  plugins ??
  `    NodeAttestor "join_token" {
        plugin_data {
        }
    }
    KeyManager "disk" {
        plugin_data {
            directory = "./.data"
        }
    }
    WorkloadAttestor "unix" {
        plugin_data {
        }
    }`
}
}
`;
}

describe("parseAgentConfig", () => {
  it("reads a SPIRE agent.conf", () => {
    const config = parseAgentConfig(spireStyleConf('join_token = "abc-123"'), "agent.conf");

    expect(config.serverAddress).toBe("127.0.0.1");
    expect(config.serverPort).toBe(8081);
    expect(config.trustDomain).toBe("example.org");
    expect(config.dataDir).toBe("./.data");
    expect(config.logLevel).toBe("DEBUG");
    expect(config.socketPath).toBe("/tmp/spire-agent/public/api.sock");
    expect(config.trustBundle).toHaveLength(1);
    expect(config.joinToken).toBe("abc-123");
    expect(config.keyManager).toEqual({ name: "disk", directory: "./.data" });
    expect(config.workloadAttestors.unix).toEqual({ discoverWorkloadPath: false, workloadSizeLimit: 0 });
    expect(config.syncIntervalMs).toBe(5000);
    expect(config.x509SvidCacheMaxSize).toBe(1000);
    expect(config.jwtSvidCacheMaxSize).toBe(1000);
    expect(config.workloadX509SvidKeyType).toBe("ec-p256");
  });

  it("reads the same configuration as JSON", () => {
    const json = JSON.stringify({
      agent: {
        server_address: "localhost",
        server_port: 8081,
        trust_domain: "example.org",
        insecure_bootstrap: true,
        join_token: "t",
        experimental: { sync_interval: "1s" },
      },
      plugins: {
        KeyManager: [{ memory: { plugin_data: {} } }],
        NodeAttestor: [{ join_token: { plugin_data: {} } }],
        WorkloadAttestor: [{ unix: { plugin_data: { discover_workload_path: true } } }],
      },
    });

    const config = parseAgentConfig(json, "agent.json");

    expect(config.insecureBootstrap).toBe(true);
    expect(config.trustBundle).toEqual([]);
    expect(config.syncIntervalMs).toBe(1000);
    expect(config.keyManager).toEqual({ name: "memory" });
    expect(config.workloadAttestors.unix?.discoverWorkloadPath).toBe(true);
  });

  it("uses SPIRE's defaults", () => {
    const text = spireStyleConf().replace(/socket_path = .*\n/, "").replace(/data_dir = .*\n/, "").replace(/log_level = .*\n/, "");

    const config = parseAgentConfig(text, "agent.conf");

    expect(config.socketPath).toBe("/tmp/spire-agent/public/api.sock");
    expect(config.dataDir).toBe(".");
    expect(config.logLevel).toBe("INFO");
    expect(config.joinToken).toBeUndefined();
  });

  it("names a misspelt option", () => {
    expect(() => parseAgentConfig(spireStyleConf('server_adress = "x"'), "agent.conf")).toThrow(
      "unknown option agent.server_adress; did you mean server_address?",
    );
  });

  it("names an unknown option with no near match", () => {
    expect(() => parseAgentConfig(spireStyleConf("colour = 3"), "agent.conf")).toThrow(/^unknown option agent\.colour$/);
  });

  it("reads the verifier and foreign claim options", () => {
    const config = parseAgentConfig(spireStyleConf('allow_unauthenticated_verifiers = true\n  allowed_foreign_jwt_claims = ["email", "groups"]'), "agent.conf");

    expect(config.allowUnauthenticatedVerifiers).toBe(true);
    expect(config.allowedForeignJwtClaims).toEqual(["email", "groups"]);
  });

  it("rejects a foreign claim list that is not a list of strings", () => {
    expect(() => parseAgentConfig(spireStyleConf("allowed_foreign_jwt_claims = [1]"), "agent.conf")).toThrow(
      "agent.allowed_foreign_jwt_claims must be a list of strings",
    );
  });

  it("loads an agent.conf with SPIRE's documented options", () => {
    const conf = `
agent {
    data_dir = "/var/lib/spire-agent"
    log_level = "INFO"
    log_format = "json"
    log_file = "/var/log/spire-agent.log"
    server_address = "spire-server.example.org"
    server_port = "8081"
    socket_path = "/run/spire/agent/public/api.sock"
    admin_socket_path = "/run/spire/agent/private/admin.sock"
    trust_bundle_path = "${bundlePath}"
    trust_bundle_format = "pem"
    trust_domain = "example.org"
    insecure_bootstrap = false
    allow_unauthenticated_verifiers = false
    allowed_foreign_jwt_claims = []
    availability_target = "24h"
    x509_svid_cache_max_size = 1000
    jwt_svid_cache_max_size = 1000
    workload_x509_svid_key_type = "ec-p256"
    profiling_enabled = false
    experimental {
        sync_interval = "5s"
    }
}

plugins {
    KeyManager "disk" {
        plugin_data {
            directory = "/var/lib/spire-agent"
        }
    }
    NodeAttestor "join_token" {
        plugin_data {}
    }
    WorkloadAttestor "unix" {
        plugin_data {
            discover_workload_path = true
        }
    }
    WorkloadAttestor "docker" {
        plugin_data {}
    }
    WorkloadAttestor "systemd" {
        plugin_data {}
    }
}

health_checks {
    listener_enabled = true
    bind_address = "127.0.0.1"
    bind_port = "8080"
    live_path = "/live"
    ready_path = "/ready"
}

telemetry {
    Prometheus {
        host = "127.0.0.1"
        port = 9988
    }
}
`;
    const config = parseAgentConfig(conf, "agent.conf");

    expect(config.trustDomain).toBe("example.org");
    expect(config.adminSocketPath).toBe("/run/spire/agent/private/admin.sock");
    expect(config.workloadAttestors.docker).toBeDefined();
    expect(config.syncIntervalMs).toBe(5000);
  });

  it("accepts unimplemented options set to what Tessera does", () => {
    const lines = [
      "profiling_enabled = false",
      "log_source_location = false",
      "disable_sds_api = true",
      "disable_workload_api = false",
      'rebootstrap_mode = "never"',
      "experimental { use_sync_authorized_entries = true }",
    ];

    expect(() => parseAgentConfig(spireStyleConf(lines.join("\n  ")), "agent.conf")).not.toThrow();
  });

  it("rejects unimplemented options set to another value", () => {
    const cases = [
      ["profiling_enabled = true", "agent.profiling_enabled = true"],
      ['rebootstrap_mode = "auto"', 'agent.rebootstrap_mode = "auto"'],
      ["disable_sds_api = false", "agent.disable_sds_api = false"],
      ["experimental { use_sync_authorized_entries = false }", "agent.experimental.use_sync_authorized_entries = false"],
    ];
    for (const [line, setting] of cases) {
      expect(() => parseAgentConfig(spireStyleConf(line), "agent.conf")).toThrow(`${setting} is not supported yet`);
    }
  });

  it("rejects documented options not implemented yet", () => {
    const cases = [
      ['trust_bundle_url = "https://127.0.0.1/bundle"', "agent.trust_bundle_url"],
      ["authorized_delegates = []", "agent.authorized_delegates"],
    ];
    for (const [line, name] of cases) {
      expect(() => parseAgentConfig(spireStyleConf(line), "agent.conf")).toThrow(`option ${name} is not supported yet`);
    }
  });

  it("reads the telemetry and health_checks blocks", () => {
    const text = `${spireStyleConf()}
telemetry {
    Prometheus {
        port = 9988
    }
}
health_checks {
    listener_enabled = true
    bind_port = "8080"
}`;

    const config = parseAgentConfig(text, "agent.conf");

    expect(config.telemetry.prometheus).toEqual({ host: "localhost", port: 9988 });
    expect(config.healthChecks).toEqual({ listenerEnabled: true, bindAddress: "localhost", bindPort: 8080, livePath: "/live", readyPath: "/ready" });
  });

  it("rejects unimplemented telemetry sinks and plugins", () => {
    expect(() => parseAgentConfig(`${spireStyleConf()}\ntelemetry { Statsd = [{ address = "127.0.0.1:8125" }] }`, "agent.conf")).toThrow(
      "option telemetry.Statsd is not supported yet",
    );
    const windows = spireStyleConf(
      "",
      `KeyManager "memory" { plugin_data {} }\nWorkloadAttestor "windows" { plugin_data {} }`,
    );
    expect(() => parseAgentConfig(windows, "agent.conf")).toThrow('WorkloadAttestor plugin "windows" is not supported yet');
  });

  it("reads admin_socket_path outside the public socket folder", () => {
    const config = parseAgentConfig(spireStyleConf('admin_socket_path = "/tmp/spire-agent/private/admin.sock"'), "agent.conf");

    expect(config.adminSocketPath).toBe("/tmp/spire-agent/private/admin.sock");
    expect(() => parseAgentConfig(spireStyleConf('admin_socket_path = "/tmp/spire-agent/public/admin.sock"'), "agent.conf")).toThrow(
      "admin_socket_path",
    );
  });

  it("reads availability_target of at least 24h", () => {
    expect(parseAgentConfig(spireStyleConf('availability_target = "36h"'), "agent.conf").availabilityTargetMs).toBe(36 * 3_600_000);
    expect(parseAgentConfig(spireStyleConf(), "agent.conf").availabilityTargetMs).toBeUndefined();
    expect(() => parseAgentConfig(spireStyleConf('availability_target = "12h"'), "agent.conf")).toThrow("availability_target must be at least 24h");
  });

  it("reads log_selectors", () => {
    expect(parseAgentConfig(spireStyleConf('log_selectors = ["k8s:ns", "unix"]'), "a").logSelectors).toEqual(["k8s:ns", "unix"]);
    expect(parseAgentConfig(spireStyleConf(), "a").logSelectors).toEqual([]);
    expect(() => parseAgentConfig(spireStyleConf('log_selectors = [":ns"]'), "a")).toThrow("agent.log_selectors");
    expect(() => parseAgentConfig(spireStyleConf('log_selectors = "k8s"'), "a")).toThrow("agent.log_selectors must be a list of strings");
  });

  it("accepts log_format text", () => {
    expect(parseAgentConfig(spireStyleConf('log_format = "text"'), "agent.conf").logFormat).toBe("text");
    expect(() => parseAgentConfig(spireStyleConf('log_format = "yaml"'), "agent.conf")).toThrow("log_format");
  });

  it("reads the docker, k8s and systemd attestor blocks", () => {
    const conf = spireStyleConf(
      "",
      [
        `KeyManager "memory" { plugin_data {} }`,
        `NodeAttestor "join_token" { plugin_data {} }`,
        `WorkloadAttestor "docker" { plugin_data { docker_socket_path = "unix:///run/test/docker.sock" } }`,
        `WorkloadAttestor "k8s" { plugin_data { skip_kubelet_verification = true  node_name = "node-1" } }`,
        `WorkloadAttestor "systemd" { plugin_data {} }`,
        `WorkloadAttestor "unix" { plugin_data {} }`,
      ].join("\n"),
    );
    const attestors = parseAgentConfig(conf, "agent.conf").workloadAttestors;

    expect(attestors.docker).toBeDefined();
    expect(attestors.k8s).toBeDefined();
    expect(attestors.systemd).toBeDefined();
    expect(attestors.unix).toBeDefined();
  });

  it("names the bad key in an attestor block", () => {
    const conf = spireStyleConf("", `KeyManager "memory" { plugin_data {} }\nNodeAttestor "join_token" { plugin_data {} }\nWorkloadAttestor "docker" { plugin_data { docker_sockt_path = "x" } }`);

    expect(() => parseAgentConfig(conf, "agent.conf")).toThrow("docker_sockt_path");
  });

  it("requires the server address, port and trust domain", () => {
    expect(() => parseAgentConfig(spireStyleConf().replace(/server_address = .*\n/, ""), "a")).toThrow(
      "agent.server_address is required",
    );
    expect(() => parseAgentConfig(spireStyleConf().replace(/server_port = .*\n/, ""), "a")).toThrow("agent.server_port is required");
    expect(() => parseAgentConfig(spireStyleConf().replace(/trust_domain = .*\n/, ""), "a")).toThrow("agent.trust_domain is required");
  });

  it("checks value types and ranges", () => {
    expect(() => parseAgentConfig(spireStyleConf().replace('"8081"', "70000"), "a")).toThrow("between 1 and 65535");
    expect(() => parseAgentConfig(spireStyleConf('insecure_bootstrap = "yes"'), "a")).toThrow(
      "agent.insecure_bootstrap must be true or false",
    );
    expect(() => parseAgentConfig(spireStyleConf('workload_x509_svid_key_type = "rsa-2048"'), "a")).toThrow(
      '"rsa-2048" is not supported yet',
    );
    expect(() => parseAgentConfig(spireStyleConf("x509_svid_cache_max_size = -1"), "a")).toThrow("must not be negative");
    expect(() => parseAgentConfig(spireStyleConf("jwt_svid_cache_max_size = -1"), "a")).toThrow(
      "agent.jwt_svid_cache_max_size must not be negative, got -1",
    );
    expect(parseAgentConfig(spireStyleConf("jwt_svid_cache_max_size = 20"), "a").jwtSvidCacheMaxSize).toBe(20);
    expect(parseAgentConfig(spireStyleConf(), "a").jwtSvidCacheHitTimeoutMs).toBe(5_000);
    expect(parseAgentConfig(spireStyleConf('experimental { jwt_svid_cache_hit_timeout = "10s" }'), "a").jwtSvidCacheHitTimeoutMs).toBe(10_000);
    expect(() => parseAgentConfig(spireStyleConf('experimental { jwt_svid_cache_hit_timeout = "4s" }'), "a")).toThrow(
      "agent.experimental.jwt_svid_cache_hit_timeout must be at least 5s, got 4s",
    );
    expect(() => parseAgentConfig(spireStyleConf('experimental { jwt_svid_cache_hit_timeout = "30s" }'), "a")).toThrow(
      "agent.experimental.jwt_svid_cache_hit_timeout must be less than 30s, got 30s",
    );
    expect(() => parseAgentConfig(spireStyleConf('experimental { sync_interval = "soon" }'), "a")).toThrow(
      "agent.experimental.sync_interval must be a duration",
    );
    expect(() => parseAgentConfig(spireStyleConf().replace('"DEBUG"', '"LOUD"'), "a")).toThrow("agent.log_level");
  });

  it("rejects two bootstrap sources", () => {
    expect(() => parseAgentConfig(spireStyleConf("insecure_bootstrap = true"), "a")).toThrow(
      "only one of agent.insecure_bootstrap and agent.trust_bundle_path",
    );
  });

  it("rejects both join token settings", () => {
    const tokenFile = join(folder, "token");
    writeFileSync(tokenFile, "from-file\n");
    expect(() => parseAgentConfig(spireStyleConf(`join_token = "a"\njoin_token_file = "${tokenFile}"`), "a")).toThrow(
      "only one of agent.join_token and agent.join_token_file",
    );
    expect(parseAgentConfig(spireStyleConf(`join_token_file = "${tokenFile}"`), "a").joinToken).toBe("from-file");
  });

  it("requires a directory for the disk key manager", () => {
    const plugins = `KeyManager "disk" { plugin_data {} }\nNodeAttestor "join_token" {}\nWorkloadAttestor "unix" {}`;
    expect(() => parseAgentConfig(spireStyleConf("", plugins), "a")).toThrow("plugins.KeyManager.disk.plugin_data.directory is required");
  });

  it("rejects a misspelt plugin setting", () => {
    const plugins = `KeyManager "memory" {}\nNodeAttestor "join_token" {}\nWorkloadAttestor "unix" { plugin_data { discover_workload_paths = true } }`;
    expect(() => parseAgentConfig(spireStyleConf("", plugins), "a")).toThrow('unknown key "discover_workload_paths"');
  });

  it("reports an unreadable bundle", () => {
    writeFileSync(join(folder, "empty.pem"), "");
    const text = spireStyleConf().replace(bundlePath, join(folder, "empty.pem"));
    expect(() => parseAgentConfig(text, "a")).toThrow(ConfigError);
    expect(() => parseAgentConfig(text, "a")).toThrow("contains no PEM certificates");
  });
});

describe("loadAgentConfig", () => {
  it("lets flags override the file", () => {
    const path = join(folder, "agent.conf");
    writeFileSync(path, spireStyleConf('join_token = "from-file"'));
    const parsed = parseFlags(
      ["-config", path, "-serverPort", "9090", "-joinToken", "from-flag", "-socketPath", "/tmp/t.sock", "-logLevel", "WARN"],
      RUN_FLAGS,
    );

    const config = loadAgentConfig({ configPath: path, overrides: settingsFromFlags(parsed) });

    expect(config.serverPort).toBe(9090);
    expect(config.joinToken).toBe("from-flag");
    expect(config.socketPath).toBe("/tmp/t.sock");
    expect(config.logLevel).toBe("WARN");
    expect(config.serverAddress).toBe("127.0.0.1");
  });

  it("expands environment variables on request", () => {
    const path = join(folder, "env.conf");
    writeFileSync(path, spireStyleConf().replace('"example.org"', '"${TESSERA_TEST_TD}"'));

    const config = loadAgentConfig({ configPath: path, expandEnv: true, env: { TESSERA_TEST_TD: "prod.example" } });

    expect(config.trustDomain).toBe("prod.example");
    expect(readFileSync(path, "utf8")).toContain("${TESSERA_TEST_TD}");
  });

  it("reports a missing file with the flag to use", () => {
    expect(() => loadAgentConfig({ configPath: join(folder, "nope.conf") })).toThrow(/not found: use the -config flag/);
  });
});
