import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";

import { ConfigError } from "../../../src/config/config-error.js";
import { renderAgentPath } from "./agent-path-template.js";
import { createOpensslCa } from "./test-openssl-pki.js";
import type { OpensslCredential } from "./test-openssl-pki.js";
import { parseX509popServerConfig } from "./x509pop-server-config.js";

const PATH = "plugins.NodeAttestor.x509pop.plugin_data";

let folder: string;
let first: OpensslCredential;
let second: OpensslCredential;

beforeAll(() => {
  folder = mkdtempSync(join(tmpdir(), "tessera-x509pop-config-"));
  first = createOpensslCa(folder, "first-ca");
  second = createOpensslCa(folder, "second-ca");
});

afterAll(() => {
  rmSync(folder, { recursive: true, force: true });
});

describe("parseX509popServerConfig", () => {
  it("applies SPIRE's defaults", () => {
    const config = parseX509popServerConfig({ ca_bundle_path: first.certPath }, PATH);

    expect(config.caBundlePaths).toEqual([first.certPath]);
    expect(config.caBundle).toEqual([first.der]);
    expect(config.agentPathTemplate.source).toBe("/{{ .PluginName }}/{{ .Fingerprint }}");
    expect(config.maxIntermediates).toBe(4);
    expect(config.maxRsaKeySize).toBe(8192);
  });

  it("loads every file of ca_bundle_paths", () => {
    const config = parseX509popServerConfig({ ca_bundle_paths: [first.certPath, second.certPath], mode: "external_pki", max_intermediates: 2 }, PATH);

    expect(config.caBundle).toEqual([first.der, second.der]);
    expect(config.maxIntermediates).toBe(2);
  });

  it("requires a CA bundle", () => {
    expect(() => parseX509popServerConfig({}, PATH)).toThrow(`${PATH}.ca_bundle_path (or ca_bundle_paths) is required`);
  });

  it("rejects both bundle options", () => {
    expect(() => parseX509popServerConfig({ ca_bundle_path: first.certPath, ca_bundle_paths: [second.certPath] }, PATH)).toThrow(
      `only one of ${PATH}.ca_bundle_path and ${PATH}.ca_bundle_paths can be set`,
    );
  });

  it("names an unreadable bundle", () => {
    const missing = join(folder, "missing.pem");

    expect(() => parseX509popServerConfig({ ca_bundle_path: missing }, PATH)).toThrow(
      new RegExp(`^failed to load the x509pop CA bundle ${missing} .*ENOENT`),
    );
  });

  it("rejects a bundle without certificates", () => {
    const empty = join(folder, "empty.pem");
    writeFileSync(empty, "no PEM here\n");

    expect(() => parseX509popServerConfig({ ca_bundle_path: empty }, PATH)).toThrow(`the x509pop CA bundle ${empty} (${PATH}) contains no CERTIFICATE block`);
  });

  it("rejects spiffe mode as not supported yet", () => {
    expect(() => parseX509popServerConfig({ mode: "spiffe" }, PATH)).toThrow(`${PATH}.mode "spiffe" is not supported yet by tessera-server`);
  });

  it("rejects group templates as not supported yet", () => {
    expect(() => parseX509popServerConfig({ ca_bundle_path: first.certPath, group_template: "{{ .Subject.CommonName }}" }, PATH)).toThrow(
      `option ${PATH}.group_template is not supported yet by tessera-server (group selectors are not implemented)`,
    );
  });

  it("names an unknown option", () => {
    expect(() => parseX509popServerConfig({ ca_bundle_path: first.certPath, ca_bundle_pth: "x" }, PATH)).toThrow(
      new ConfigError(`unknown option ${PATH}.ca_bundle_pth; did you mean ca_bundle_path?`),
    );
  });

  it("reads a supported template", () => {
    const config = parseX509popServerConfig({ ca_bundle_path: first.certPath, agent_path_template: "/cn/{{- .Subject.CommonName -}}/x" }, PATH);

    const path = renderAgentPath(config.agentPathTemplate, {
      pluginName: "x509pop",
      fingerprint: "ab",
      trustDomain: "example.org",
      commonName: "node-1",
      serialNumberHex: "01",
      uriSanSelectors: new Map(),
    });
    expect(path).toBe("/cn/node-1/x");
  });

  it("rejects a template without a leading slash", () => {
    expect(() => parseX509popServerConfig({ ca_bundle_path: first.certPath, agent_path_template: "{{ .PluginName }}/{{ .Fingerprint }}" }, PATH)).toThrow(
      /agent_path_template: "\{\{ \.PluginName \}\}\/\{\{ \.Fingerprint \}\}" must start with "\/"/,
    );
  });

  it("rejects template functions", () => {
    expect(() =>
      parseX509popServerConfig({ ca_bundle_path: first.certPath, agent_path_template: "/{{ .Subject.CommonName | lower }}" }, PATH),
    ).toThrow(/unsupported template action "\{\{ \.Subject\.CommonName \| lower \}\}": tessera-server renders field references only; supported fields are/);
  });

  it("rejects fields it cannot render", () => {
    expect(() => parseX509popServerConfig({ ca_bundle_path: first.certPath, agent_path_template: "/{{ .Subject.Organization }}" }, PATH)).toThrow(
      /unsupported field \.Subject\.Organization/,
    );
    expect(() => parseX509popServerConfig({ ca_bundle_path: first.certPath, agent_path_template: "/{{ .SVIDPathTrimmed }}" }, PATH)).toThrow(
      /needs mode = "spiffe"/,
    );
  });
});
