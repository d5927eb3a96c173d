import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { createOpensslCa } from "../../../plugins/nodeattestor/x509pop/test-openssl-pki.js";
import { ConfigError, parseServerConfig } from "./load-server-config.js";

const MINIMAL = `
server {
  trust_domain = "example.org"
  data_dir = "/var/lib/tessera"
}
plugins {
  KeyManager "memory" { plugin_data {} }
}
`;

function withServer(lines: string, plugins = 'KeyManager "memory" { plugin_data {} }'): string {
  return `server {\n  trust_domain = "example.org"\n  data_dir = "/d"\n${lines}\n}\nplugins {\n${plugins}\n}\n`;
}

describe("parseServerConfig", () => {
  it("applies SPIRE's defaults", () => {
    const config = parseServerConfig(MINIMAL, "server.conf");

    expect(config).toMatchObject({
      trustDomain: "example.org",
      bindAddress: "0.0.0.0",
      bindPort: 8081,
      socketPath: "/tmp/spire-server/private/api.sock",
      caTtlSeconds: 86_400,
      defaultX509SvidTtlSeconds: 3600,
      defaultJwtSvidTtlSeconds: 300,
      agentTtlSeconds: 3600,
      databasePath: "/var/lib/tessera/datastore.sqlite3",
      keyManager: { kind: "memory" },
      entryPageSize: 500,
      caSubject: { country: ["US"], organization: ["SPIFFE"], commonName: "" },
    });
  });

  it("reads every supported setting", () => {
    const text = `
      server {
        bind_address = "127.0.0.1"
        bind_port = "0"
        socket_path = "/run/t/api.sock"
        trust_domain = "spiffe://example.org"
        data_dir = "/d"
        log_level = "DEBUG"
        log_format = "json"
        log_file = "/d/server.log"
        ca_ttl = "48h"
        ca_key_type = "ec-p256"
        ca_subject { country = ["DE"], organization = ["Acme"], common_name = "acme" }
        default_x509_svid_ttl = "30m"
        default_jwt_svid_ttl = "10m"
        agent_ttl = "2h"
        experimental { entry_page_size = 5 }
      }
      plugins {
        DataStore "sql" { plugin_data { database_type = "sqlite3", connection_string = "/d/db.sqlite3" } }
        KeyManager "disk" { plugin_data { keys_path = "/d/keys/keys.json" } }
        NodeAttestor "join_token" { plugin_data {} }
      }
    `;

    const config = parseServerConfig(text, "server.conf");

    expect(config).toEqual({
      trustDomain: "example.org",
      bindAddress: "127.0.0.1",
      bindPort: 0,
      socketPath: "/run/t/api.sock",
      dataDir: "/d",
      logLevel: "DEBUG",
      logFormat: "json",
      logFile: "/d/server.log",
      caTtlSeconds: 172_800,
      caSubject: { country: ["DE"], organization: ["Acme"], commonName: "acme" },
      defaultX509SvidTtlSeconds: 1800,
      defaultJwtSvidTtlSeconds: 600,
      agentTtlSeconds: 7200,
      databasePath: "/d/db.sqlite3",
      keyManager: { kind: "disk", keysPath: "/d/keys/keys.json" },
      entryPageSize: 5,
      nodeAttestors: {},
    });
  });

  it("accepts JSON", () => {
    const json = JSON.stringify({
      server: { trust_domain: "example.org", data_dir: "/d", bind_port: 9000 },
      plugins: { KeyManager: { memory: { plugin_data: {} } } },
    });

    expect(parseServerConfig(json, "server.json").bindPort).toBe(9000);
  });

  it("lets flags override the file", () => {
    const config = parseServerConfig(MINIMAL, "server.conf", {
      bindAddress: "127.0.0.2",
      bindPort: 0,
      socketPath: "/tmp/x.sock",
      trustDomain: "other.org",
      dataDir: "/other",
      logLevel: "WARN",
    });

    expect(config).toMatchObject({
      bindAddress: "127.0.0.2",
      bindPort: 0,
      socketPath: "/tmp/x.sock",
      trustDomain: "other.org",
      dataDir: "/other",
      logLevel: "WARN",
      databasePath: "/other/datastore.sqlite3",
    });
  });

  const rejected: [string, string, RegExp][] = [
    ["unknown key", withServer('  bind_adress = "x"'), /unknown option server\.bind_adress; did you mean bind_address\?/],
    ["unsupported key", withServer("  jwt_issuer = \"x\""), /option server\.jwt_issuer is not supported yet by tessera-server/],
    ["unsupported block", `${MINIMAL}\ntelemetry {}`, /option telemetry is not supported yet/],
    ["unsupported plugin", withServer("", 'KeyManager "memory" {}\nUpstreamAuthority "disk" {}'), /UpstreamAuthority plugin "disk" is not supported yet/],
    ["other database", withServer("", 'KeyManager "memory" {}\nDataStore "sql" { plugin_data { database_type = "postgres" } }'), /database_type "postgres" is not supported yet/],
    ["two key managers", withServer("", 'KeyManager "memory" {}\nKeyManager "disk" {}'), /exactly one KeyManager/],
    ["text logs", withServer('  log_format = "text"'), /log_format "text" is not supported yet/],
    ["bad TTL", withServer('  ca_ttl = "soon"'), /server\.ca_ttl must be a duration/],
    ["bad trust domain", withServer("").replace("example.org", "Example.org"), /server\.trust_domain/],
    ["bad port", withServer("  bind_port = 70000"), /bind_port must be between 0 and 65535/],
    ["RSA CA", withServer('  ca_key_type = "rsa-2048"'), /ca_key_type "rsa-2048" is not supported yet/],
    ["join_token settings", withServer("", 'KeyManager "memory" {}\nNodeAttestor "join_token" { plugin_data { ttl = 5 } }'), /unknown option plugins\.NodeAttestor\.join_token\.plugin_data\.ttl/],
    ["x509pop without a bundle", withServer("", 'KeyManager "memory" {}\nNodeAttestor "x509pop" { plugin_data {} }'), /plugins\.NodeAttestor\.x509pop\.plugin_data\.ca_bundle_path \(or ca_bundle_paths\) is required/],
    ["x509pop spiffe mode", withServer("", 'KeyManager "memory" {}\nNodeAttestor "x509pop" { plugin_data { mode = "spiffe" } }'), /mode "spiffe" is not supported yet by tessera-server/],
  ];

  for (const [name, text, message] of rejected) {
    it(`rejects ${name}`, () => {
      expect(() => parseServerConfig(text, "server.conf")).toThrow(message);
    });
  }

  it("reads NodeAttestor x509pop next to join_token", () => {
    const folder = mkdtempSync(join(tmpdir(), "tessera-server-config-"));
    try {
      const ca = createOpensslCa(folder, "agents-ca");
      const plugins = [
        'KeyManager "memory" {}',
        'NodeAttestor "join_token" { plugin_data {} }',
        `NodeAttestor "x509pop" { plugin_data { ca_bundle_path = "${ca.certPath}" } }`,
      ].join("\n");

      const config = parseServerConfig(withServer("", plugins), "server.conf");

      expect(config.nodeAttestors?.x509pop?.caBundle).toEqual([ca.der]);
      expect(config.nodeAttestors?.x509pop?.agentPathTemplate.source).toBe("/{{ .PluginName }}/{{ .Fingerprint }}");
    } finally {
      rmSync(folder, { recursive: true, force: true });
    }
  });

  it("requires the trust domain and data folder", () => {
    expect(() => parseServerConfig('server { data_dir = "/d" }\nplugins { KeyManager "memory" {} }', "s")).toThrow(
      /server\.trust_domain is required/,
    );
    expect(() => parseServerConfig('server { trust_domain = "e.org" }\nplugins { KeyManager "memory" {} }', "s")).toThrow(
      /server\.data_dir is required/,
    );
    expect(() => parseServerConfig('server { trust_domain = "e.org" }', "s", { dataDir: "/d" })).toThrow(ConfigError);
  });
});
