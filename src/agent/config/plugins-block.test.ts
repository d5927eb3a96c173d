import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";

import { createOpensslCa, issueOpensslLeaf } from "../../../plugins/nodeattestor/x509pop/test-openssl-pki.js";
import type { OpensslCredential } from "../../../plugins/nodeattestor/x509pop/test-openssl-pki.js";
import { parseConfigText } from "../../config/hcl.js";
import { readPluginsBlock } from "./plugins-block.js";

let folder: string;
let leaf: OpensslCredential;

beforeAll(() => {
  folder = mkdtempSync(join(tmpdir(), "tessera-agent-plugins-"));
  leaf = issueOpensslLeaf(folder, "node", createOpensslCa(folder, "agents-ca"));
});

afterAll(() => {
  rmSync(folder, { recursive: true, force: true });
});

function plugins(nodeAttestor: string): unknown {
  const text = `plugins {
  KeyManager "memory" { plugin_data {} }
  ${nodeAttestor}
  WorkloadAttestor "unix" { plugin_data {} }
}`;
  return parseConfigText(text, "agent.conf").plugins;
}

describe("readPluginsBlock NodeAttestor", () => {
  it("reads x509pop with SPIRE's options", () => {
    const settings = readPluginsBlock(
      plugins(`NodeAttestor "x509pop" { plugin_data { private_key_path = "${leaf.keyPath}"\n certificate_path = "${leaf.certPath}" } }`),
    );

    expect(settings.nodeAttestor).toEqual({ name: "x509pop", x509pop: { privateKeyPath: leaf.keyPath, certificatePath: leaf.certPath } });
  });

  it("reads join_token", () => {
    expect(readPluginsBlock(plugins('NodeAttestor "join_token" { plugin_data {} }')).nodeAttestor).toEqual({ name: "join_token" });
  });

  it("names an unknown x509pop option", () => {
    const block = plugins(`NodeAttestor "x509pop" { plugin_data { private_key_path = "${leaf.keyPath}"\n certificate_pth = "${leaf.certPath}" } }`);

    expect(() => readPluginsBlock(block)).toThrow(
      "unknown option plugins.NodeAttestor.x509pop.plugin_data.certificate_pth; did you mean certificate_path?",
    );
  });

  it("rejects spiffe_endpoint_socket", () => {
    const block = plugins('NodeAttestor "x509pop" { plugin_data { spiffe_endpoint_socket = "/run/other/api.sock" } }');

    expect(() => readPluginsBlock(block)).toThrow(/spiffe_endpoint_socket is not supported yet by tessera-agent/);
  });

  it("rejects join_token settings", () => {
    expect(() => readPluginsBlock(plugins('NodeAttestor "join_token" { plugin_data { token = "x" } }'))).toThrow(
      "unknown option plugins.NodeAttestor.join_token.plugin_data.token",
    );
  });
});
