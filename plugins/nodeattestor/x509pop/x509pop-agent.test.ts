import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";

import { ConfigError } from "../../../src/config/config-error.js";
import { createOpensslCa, issueOpensslLeaf } from "./test-openssl-pki.js";
import type { OpensslCredential } from "./test-openssl-pki.js";
import { createX509popAttestor, parseX509popAgentConfig } from "./x509pop-agent.js";
import { decodeAttestationData } from "./x509pop-protocol.js";

const PATH = "plugins.NodeAttestor.x509pop.plugin_data";

let folder: string;
let root: OpensslCredential;
let intermediate: OpensslCredential;
let leaf: OpensslCredential;
let otherLeaf: OpensslCredential;

beforeAll(() => {
  folder = mkdtempSync(join(tmpdir(), "tessera-x509pop-agent-"));
  root = createOpensslCa(folder, "root-ca");
  intermediate = createOpensslCa(folder, "intermediate-ca", root);
  leaf = issueOpensslLeaf(folder, "node", intermediate);
  otherLeaf = issueOpensslLeaf(folder, "other-node", root);
});

afterAll(() => {
  rmSync(folder, { recursive: true, force: true });
});

describe("parseX509popAgentConfig", () => {
  it("reads SPIRE's option names", () => {
    const config = parseX509popAgentConfig(
      { private_key_path: leaf.keyPath, certificate_path: leaf.certPath, intermediates_path: intermediate.certPath },
      PATH,
    );

    expect(config).toEqual({ privateKeyPath: leaf.keyPath, certificatePath: leaf.certPath, intermediatesPath: intermediate.certPath });
  });

  it("names an unknown option", () => {
    expect(() => parseX509popAgentConfig({ private_key_path: leaf.keyPath, certificate_path: leaf.certPath, cert_path: "x" }, PATH)).toThrow(
      new ConfigError(`unknown option ${PATH}.cert_path`),
    );
  });

  it("rejects spiffe_endpoint_socket as not supported yet", () => {
    expect(() => parseX509popAgentConfig({ spiffe_endpoint_socket: "/tmp/other.sock" }, PATH)).toThrow(
      /^option plugins\.NodeAttestor\.x509pop\.plugin_data\.spiffe_endpoint_socket is not supported yet by tessera-agent .*set private_key_path and certificate_path instead$/,
    );
  });

  it("requires both paths", () => {
    expect(() => parseX509popAgentConfig({ certificate_path: leaf.certPath }, PATH)).toThrow(`${PATH}.private_key_path is required`);
    expect(() => parseX509popAgentConfig({ private_key_path: leaf.keyPath }, PATH)).toThrow(`${PATH}.certificate_path is required`);
    expect(() => parseX509popAgentConfig(undefined, PATH)).toThrow(ConfigError);
  });

  it("rejects a key of another certificate", () => {
    expect(() => parseX509popAgentConfig({ private_key_path: otherLeaf.keyPath, certificate_path: leaf.certPath }, PATH)).toThrow(
      `${PATH}: failed to load the key pair: the private key in ${otherLeaf.keyPath} does not match the certificate in ${leaf.certPath}`,
    );
  });

  it("names a missing file", () => {
    const missing = join(folder, "missing.pem");

    expect(() => parseX509popAgentConfig({ private_key_path: leaf.keyPath, certificate_path: missing }, PATH)).toThrow(
      new RegExp(`^${PATH.replace(/\./g, "\\.")}: failed to read the certificate file ${missing}: ENOENT`),
    );
  });

  it("rejects a certificate file without certificates", () => {
    const keyOnly = join(folder, "key-only.pem");
    writeFileSync(keyOnly, readFileSync(leaf.keyPath));

    expect(() => parseX509popAgentConfig({ private_key_path: leaf.keyPath, certificate_path: keyOnly }, PATH)).toThrow(
      `failed to load the key pair: no CERTIFICATE block in ${keyOnly}`,
    );
  });
});

describe("x509pop agent attestor", () => {
  it("is reattestable and sends the chain", async () => {
    const attestor = createX509popAttestor({ privateKeyPath: leaf.keyPath, certificatePath: leaf.certPath, intermediatesPath: intermediate.certPath });

    const data = await attestor.attestationData();

    expect(attestor.reattestable).toBe(true);
    expect(data.type).toBe("x509pop");
    expect(decodeAttestationData(data.payload)).toEqual([leaf.der, intermediate.der]);
  });

  it("reads the files again on each attestation", async () => {
    const certificatePath = join(folder, "rotating.pem");
    const keyPath = join(folder, "rotating.key");
    writeFileSync(certificatePath, readFileSync(leaf.certPath));
    writeFileSync(keyPath, readFileSync(leaf.keyPath));
    const attestor = createX509popAttestor({ privateKeyPath: keyPath, certificatePath });
    const first = decodeAttestationData((await attestor.attestationData()).payload);

    writeFileSync(certificatePath, readFileSync(otherLeaf.certPath));
    writeFileSync(keyPath, readFileSync(otherLeaf.keyPath));
    const second = decodeAttestationData((await attestor.attestationData()).payload);

    expect(first).toEqual([leaf.der]);
    expect(second).toEqual([otherLeaf.der]);
  });
});
