import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";

import { parseFlags } from "../../config/flags.js";
import type { AgentConfig } from "./agent-config.js";
import { loadAgentConfig } from "./load-agent-config.js";
import { RUN_FLAGS, settingsFromFlags } from "./run-flags.js";
import { writeTestBundleFile } from "./test-bundle-file.js";

let folder: string;
let configPath: string;
let fileBundle: string;
let flagBundle: string;

beforeAll(() => {
  folder = mkdtempSync(join(tmpdir(), "tessera-run-flags-"));
  fileBundle = writeTestBundleFile(folder, "file-ca");
  flagBundle = writeTestBundleFile(folder, "flag-ca");
  writeFileSync(join(folder, "token"), "from-token-file\n");
  configPath = join(folder, "agent.conf");
  writeFileSync(
    configPath,
    `
agent {
  allow_unauthenticated_verifiers = false
  data_dir = "/var/lib/from-file"
  join_token = "from-file"
  log_file = "/var/log/from-file.log"
  log_format = "text"
  log_level = "INFO"
  server_address = "file.example"
  server_port = 8081
  socket_path = "/tmp/from-file.sock"
  trust_bundle_path = "${fileBundle}"
  trust_domain = "file.example"
}
plugins {
  KeyManager "memory" { plugin_data {} }
  NodeAttestor "join_token" { plugin_data {} }
  WorkloadAttestor "unix" { plugin_data {} }
}
`,
  );
});

afterAll(() => {
  rmSync(folder, { recursive: true, force: true });
});

function load(flags: string[]): AgentConfig {
  const parsed = parseFlags(["-config", configPath, ...flags], RUN_FLAGS);
  return loadAgentConfig({ configPath, overrides: settingsFromFlags(parsed) });
}

describe("run flags over agent.conf", () => {
  const cases: Array<{ flag: string; value: () => string | undefined; check: (config: AgentConfig) => unknown; expected: () => unknown }> = [
    { flag: "-allowUnauthenticatedVerifiers", value: () => undefined, check: (c) => c.allowUnauthenticatedVerifiers, expected: () => true },
    { flag: "-dataDir", value: () => "/srv/flag", check: (c) => c.dataDir, expected: () => "/srv/flag" },
    { flag: "-joinToken", value: () => "from-flag", check: (c) => c.joinToken, expected: () => "from-flag" },
    { flag: "-joinTokenFile", value: () => join(folder, "token"), check: (c) => c.joinToken, expected: () => "from-token-file" },
    { flag: "-logFile", value: () => "/tmp/flag.log", check: (c) => c.logFile, expected: () => "/tmp/flag.log" },
    { flag: "-logFormat", value: () => "json", check: (c) => c.logFormat, expected: () => "json" },
    { flag: "-logLevel", value: () => "debug", check: (c) => c.logLevel, expected: () => "debug" },
    { flag: "-serverAddress", value: () => "127.0.0.1", check: (c) => c.serverAddress, expected: () => "127.0.0.1" },
    { flag: "-serverPort", value: () => "9443", check: (c) => c.serverPort, expected: () => 9443 },
    { flag: "-socketPath", value: () => "/tmp/flag.sock", check: (c) => c.socketPath, expected: () => "/tmp/flag.sock" },
    { flag: "-trustBundle", value: () => flagBundle, check: (c) => c.trustBundlePath, expected: () => flagBundle },
    { flag: "-trustDomain", value: () => "flag.example", check: (c) => c.trustDomain, expected: () => "flag.example" },
  ];

  for (const { flag, value, check, expected } of cases) {
    it(`applies ${flag}`, () => {
      const argument = value();
      const fromFile = check(load([]));
      const fromFlag = check(load(argument === undefined ? [flag] : [flag, argument]));

      expect(fromFlag).toEqual(expected());
      expect(fromFlag).not.toEqual(fromFile);
    });
  }

  it("keeps file values for flags left out", () => {
    const config = load(["-serverPort", "9443"]);

    expect(config.serverAddress).toBe("file.example");
    expect(config.trustDomain).toBe("file.example");
    expect(config.logFormat).toBe("text");
    expect(config.joinToken).toBe("from-file");
  });

  it("reads the bundle the -trustBundle flag names", () => {
    const fromFile = load([]).trustBundle[0];
    const fromFlag = load(["-trustBundle", flagBundle]).trustBundle[0];

    expect(fromFlag).toBeDefined();
    expect(fromFlag?.equals(fromFile as Buffer)).toBe(false);
  });

  it("rejects an invalid flag value naming the option", () => {
    expect(() => load(["-logFormat", "xml"])).toThrow("agent.log_format");
    expect(() => parseFlags(["-serverPort", "http"], RUN_FLAGS)).toThrow("-serverPort");
  });
});
