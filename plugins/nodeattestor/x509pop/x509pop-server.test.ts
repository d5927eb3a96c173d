import { createHash, createPrivateKey } from "node:crypto";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { status } from "@grpc/grpc-js";
import { afterAll, beforeAll, describe, expect, it } from "vitest";

import type { NodeAttestationResult } from "../server-node-attestor.js";
import { NodeAttestationError } from "../server-node-attestor.js";
import { parseAgentPathTemplate, DEFAULT_AGENT_PATH_TEMPLATE } from "./agent-path-template.js";
import { createOpensslCa, issueOpensslLeaf } from "./test-openssl-pki.js";
import type { LeafOptions, OpensslCredential } from "./test-openssl-pki.js";
import { createX509popAttestor } from "./x509pop-agent.js";
import { encodeAttestationData, respondToChallenge } from "./x509pop-protocol.js";
import { createX509popServerAttestor } from "./x509pop-server.js";
import type { X509popServerConfig } from "./x509pop-server-config.js";

const TRUST_DOMAIN = "example.org";

let folder: string;
let root: OpensslCredential;
let otherRoot: OpensslCredential;
let intermediate: OpensslCredential;

beforeAll(() => {
  folder = mkdtempSync(join(tmpdir(), "tessera-x509pop-server-"));
  root = createOpensslCa(folder, "root-ca");
  otherRoot = createOpensslCa(folder, "other-ca");
  intermediate = createOpensslCa(folder, "intermediate-ca", root);
});

afterAll(() => {
  rmSync(folder, { recursive: true, force: true });
});

function serverConfig(overrides: Partial<X509popServerConfig> = {}): X509popServerConfig {
  return {
    caBundlePaths: [root.certPath],
    caBundle: [root.der],
    agentPathTemplate: parseAgentPathTemplate(DEFAULT_AGENT_PATH_TEMPLATE),
    maxIntermediates: 4,
    maxRsaKeySize: 8192,
    ...overrides,
  };
}

function sha1(der: Buffer): string {
  return createHash("sha1").update(der).digest("hex");
}

/** Runs the agent plugin against the server plugin, as AttestAgent does over the stream. */
async function attest(leaf: OpensslCredential, options: { config?: X509popServerConfig; intermediatesPath?: string; now?: Date } = {}): Promise<NodeAttestationResult> {
  const agent = createX509popAttestor({ certificatePath: leaf.certPath, privateKeyPath: leaf.keyPath, intermediatesPath: options.intermediatesPath });
  const server = createX509popServerAttestor(options.config ?? serverConfig(), TRUST_DOMAIN, () => options.now ?? new Date());
  const data = await agent.attestationData();
  expect(data.type).toBe("x509pop");
  return server.attest(data.payload, (challenge) => agent.respondToChallenge(challenge));
}

async function failureOf(attempt: Promise<unknown>): Promise<NodeAttestationError> {
  const error = await attempt.then(
    () => undefined,
    (caught: unknown) => caught,
  );
  expect(error).toBeInstanceOf(NodeAttestationError);
  return error as NodeAttestationError;
}

function attestError(leaf: OpensslCredential, options: Parameters<typeof attest>[1] = {}): Promise<NodeAttestationError> {
  return failureOf(attest(leaf, options));
}

function leafNamed(name: string, options: LeafOptions = {}, issuer: OpensslCredential = root): OpensslCredential {
  return issueOpensslLeaf(folder, name, issuer, options);
}

describe("x509pop server attestor", () => {
  it("attests an ECDSA node with SPIRE's ID and selectors", async () => {
    const leaf = leafNamed("node-ec", { serial: "0x0a1b2c", uris: [`x509pop://${TRUST_DOMAIN}/datacenter/us-east-1`, "x509pop://other.org/ignored/value"] });

    const result = await attest(leaf);

    expect(result.agentId).toBe(`spiffe://${TRUST_DOMAIN}/spire/agent/x509pop/${sha1(leaf.der)}`);
    expect(result.canReattest).toBe(true);
    expect(result.selectors).toEqual([
      { type: "x509pop", value: "subject:cn:node-ec" },
      { type: "x509pop", value: `ca:fingerprint:${sha1(root.der)}` },
      { type: "x509pop", value: "serialnumber:0a1b2c" },
      { type: "x509pop", value: "san:datacenter:us-east-1" },
    ]);
  });

  it("attests an RSA node", async () => {
    const leaf = leafNamed("node-rsa", { keyType: "rsa-2048" });

    const result = await attest(leaf);

    expect(result.agentId).toBe(`spiffe://${TRUST_DOMAIN}/spire/agent/x509pop/${sha1(leaf.der)}`);
  });

  it("attests a P-384 node", async () => {
    const result = await attest(leafNamed("node-p384", { keyType: "ec-p384" }));

    expect(result.canReattest).toBe(true);
  });

  it("follows intermediates from intermediates_path", async () => {
    const leaf = leafNamed("node-via-intermediate", {}, intermediate);

    const result = await attest(leaf, { intermediatesPath: intermediate.certPath });

    expect(result.selectors.filter((selector) => selector.value.startsWith("ca:fingerprint:"))).toEqual([
      { type: "x509pop", value: `ca:fingerprint:${sha1(intermediate.der)}` },
      { type: "x509pop", value: `ca:fingerprint:${sha1(root.der)}` },
    ]);
  });

  it("rejects a chain without its intermediate", async () => {
    const error = await attestError(leafNamed("node-missing-intermediate", {}, intermediate));

    expect(error.code).toBe(status.PERMISSION_DENIED);
    expect(error.message).toMatch(/^x509pop: certificate verification failed: certificate signed by unknown authority/);
  });

  it("rejects a leaf from another CA", async () => {
    const error = await attestError(leafNamed("node-other-ca", {}, otherRoot));

    expect(error.code).toBe(status.PERMISSION_DENIED);
    expect(error.message).toContain("the leaf does not chain to the CA bundle");
  });

  it("rejects an expired leaf", async () => {
    const leaf = leafNamed("node-expiring", { days: 1 });

    const error = await attestError(leaf, { now: new Date(Date.now() + 3 * 86_400_000) });

    expect(error.code).toBe(status.PERMISSION_DENIED);
    expect(error.message).toMatch(/^x509pop: certificate verification failed: leaf certificate \(CN=node-expiring\) expired at /);
  });

  it("rejects a leaf without digitalSignature", async () => {
    const error = await attestError(leafNamed("node-no-signing", { keyUsage: "critical,keyEncipherment" }));

    expect(error.code).toBe(status.PERMISSION_DENIED);
    expect(error.message).toContain("certificate not intended for digital signature use");
  });

  it("rejects a leaf without key usage", async () => {
    const error = await attestError(leafNamed("node-no-key-usage", { keyUsage: null }));

    expect(error.message).toContain("certificate not intended for digital signature use");
  });

  it("rejects a response signed by another key", async () => {
    const leaf = leafNamed("node-honest");
    const thief = leafNamed("node-thief");
    const server = createX509popServerAttestor(serverConfig(), TRUST_DOMAIN);
    const thiefKey = createPrivateKey(readFileSync(thief.keyPath));

    const error = await failureOf(server.attest(encodeAttestationData([leaf.der]), async (challenge) => respondToChallenge(thiefKey, challenge)));

    expect(error.code).toBe(status.PERMISSION_DENIED);
    expect(error.message).toBe("x509pop: challenge response verification failed: ECDSA signature verify failed");
  });

  it("rejects a response to an old challenge", async () => {
    const leaf = leafNamed("node-replay");
    const key = createPrivateKey(readFileSync(leaf.keyPath));
    const server = createX509popServerAttestor(serverConfig(), TRUST_DOMAIN);
    let recorded: Buffer | undefined;
    await server.attest(encodeAttestationData([leaf.der]), async (challenge) => {
      recorded = respondToChallenge(key, challenge);
      return recorded;
    });

    const error = await failureOf(server.attest(encodeAttestationData([leaf.der]), async () => recorded as Buffer));

    expect(error.code).toBe(status.PERMISSION_DENIED);
    expect(error.message).toContain("ECDSA signature verify failed");
  });

  it("rejects more intermediates than allowed", async () => {
    const leaf = leafNamed("node-long-chain", {}, intermediate);
    const server = createX509popServerAttestor(serverConfig({ maxIntermediates: 1 }), TRUST_DOMAIN);

    const error = await failureOf(server.attest(encodeAttestationData([leaf.der, intermediate.der, intermediate.der]), async () => Buffer.alloc(0)));

    expect(error.code).toBe(status.INVALID_ARGUMENT);
    expect(error.message).toBe("x509pop: too many intermediate certificates: got 2, max_intermediates is 1");
  });

  it("rejects an empty payload", async () => {
    const server = createX509popServerAttestor(serverConfig(), TRUST_DOMAIN);

    const error = await failureOf(server.attest(Buffer.from("{}"), async () => Buffer.alloc(0)));

    expect(error.code).toBe(status.INVALID_ARGUMENT);
    expect(error.message).toBe("x509pop: no certificate to attest");
  });

  it("names the agent from a template", async () => {
    const leaf = leafNamed("node-templated", { serial: "0x01ff", uris: [`x509pop://${TRUST_DOMAIN}/datacenter/eu/west`] });
    const template = parseAgentPathTemplate("/{{ .PluginName }}/{{ .URISanSelectors.datacenter }}/{{ .Subject.CommonName }}-{{ .SerialNumberHex }}");

    const result = await attest(leaf, { config: serverConfig({ agentPathTemplate: template }) });

    expect(result.agentId).toBe(`spiffe://${TRUST_DOMAIN}/spire/agent/x509pop/eu/west/node-templated-01ff`);
  });

  it("fails a template whose SAN is missing", async () => {
    const template = parseAgentPathTemplate("/dc/{{ .URISanSelectors.datacenter }}");

    const error = await attestError(leafNamed("node-no-san"), { config: serverConfig({ agentPathTemplate: template }) });

    expect(error.code).toBe(status.INTERNAL);
    expect(error.message).toContain(`the certificate has no x509pop://${TRUST_DOMAIN}/datacenter/<value> URI SAN`);
  });
});
