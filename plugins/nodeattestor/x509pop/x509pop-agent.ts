import { createPrivateKey, createPublicKey, X509Certificate } from "node:crypto";
import type { KeyObject } from "node:crypto";
import { readFileSync } from "node:fs";

import { checkKeys } from "../../../src/config/check-keys.js";
import { ConfigError } from "../../../src/config/config-error.js";
import type { ConfigBlock } from "../../../src/config/config-values.js";
import { readString } from "../../../src/config/config-values.js";
import { derToPem, parsePemBlocks, parsePemCertificates } from "../../../src/spiffe/bundle.js";
import type { NodeAttestor } from "../node-attestor.js";
import { encodeAttestationData, respondToChallenge, signatureKindOf, X509POP_PLUGIN_NAME } from "./x509pop-protocol.js";

/** Settings of the agent's `NodeAttestor "x509pop"` plugin (SPIRE's names in parentheses). */
export interface X509popAgentConfig {
  /** PEM private key of the node certificate: PKCS#8, PKCS#1 (RSA) or SEC1 (EC) (`private_key_path`). */
  privateKeyPath: string;
  /** PEM node certificate, optionally followed by intermediates (`certificate_path`). */
  certificatePath: string;
  /** PEM intermediates sent after those in certificatePath (`intermediates_path`). */
  intermediatesPath?: string;
}

/** A node certificate chain and its private key, read from the configured files. */
export interface X509popCredentials {
  /** DER, leaf first, then the intermediates. */
  certificates: Buffer[];
  privateKey: KeyObject;
}

const OPTIONS = ["private_key_path", "certificate_path", "intermediates_path"];

/**
 * Reads `plugin_data` of the agent's `NodeAttestor "x509pop"` and checks that the files
 * load, as SPIRE does when it configures the plugin. `path` names the block in messages
 * (`plugins.NodeAttestor.x509pop.plugin_data`). Throws {@link ConfigError}.
 */
export function parseX509popAgentConfig(data: ConfigBlock | undefined, path: string): X509popAgentConfig {
  const block = data ?? {};
  if (block.spiffe_endpoint_socket !== undefined) {
    throw new ConfigError(
      `option ${path}.spiffe_endpoint_socket is not supported yet by tessera-agent (it fetches the certificate from another Workload API); ` +
        "set private_key_path and certificate_path instead",
    );
  }
  checkKeys(block, path, OPTIONS, ["spiffe_endpoint_socket"]);

  const config: X509popAgentConfig = {
    privateKeyPath: requiredPath(block, "private_key_path", path, "the PEM private key of the node certificate"),
    certificatePath: requiredPath(block, "certificate_path", path, "the PEM node certificate, optionally followed by intermediates"),
  };
  const intermediatesPath = readString(block, "intermediates_path", path)?.trim() ?? "";
  if (intermediatesPath !== "") {
    config.intermediatesPath = intermediatesPath;
  }

  try {
    loadX509popCredentials(config);
  } catch (error) {
    throw new ConfigError(`${path}: ${(error as Error).message}`, { cause: error });
  }
  return config;
}

/**
 * Reads the certificate chain and private key. Throws an Error naming the file when one
 * cannot be read or parsed, the key is encrypted or of an unsupported type, or the key
 * does not belong to the leaf certificate.
 */
export function loadX509popCredentials(config: X509popAgentConfig): X509popCredentials {
  const certificates = readCertificateFile(config.certificatePath);
  if (config.intermediatesPath !== undefined) {
    certificates.push(...readIntermediates(config.intermediatesPath));
  }

  const privateKey = readPrivateKey(config.privateKeyPath);
  signatureKindOf(privateKey);
  const leafKey = new X509Certificate(certificates[0] as Buffer).publicKey.export({ type: "spki", format: "der" });
  const ownKey = createPublicKey(privateKey).export({ type: "spki", format: "der" });
  if (!leafKey.equals(ownKey)) {
    throw new Error(`failed to load the key pair: the private key in ${config.privateKeyPath} does not match the certificate in ${config.certificatePath}`);
  }
  return { certificates, privateKey };
}

/**
 * Creates the agent side of x509pop. Each attestation reads the files again, so a renewed
 * node certificate is used without a restart. The payload is the chain, and the challenge
 * response is signed with the key read for that attestation.
 */
export function createX509popAttestor(config: X509popAgentConfig): NodeAttestor {
  let privateKey: KeyObject | undefined;

  return {
    name: X509POP_PLUGIN_NAME,
    reattestable: true,

    async attestationData() {
      let credentials: X509popCredentials;
      try {
        credentials = loadX509popCredentials(config);
      } catch (error) {
        throw new Error(`x509pop: ${(error as Error).message}`, { cause: error });
      }
      privateKey = credentials.privateKey;
      return { type: X509POP_PLUGIN_NAME, payload: encodeAttestationData(credentials.certificates) };
    },

    async respondToChallenge(challenge: Buffer) {
      if (privateKey === undefined) {
        throw new Error("x509pop: the server sent a challenge before the attestation data was read");
      }
      try {
        return respondToChallenge(privateKey, challenge);
      } catch (error) {
        throw new Error(`x509pop: failed to calculate challenge response: ${(error as Error).message}`, { cause: error });
      }
    },
  };
}

function requiredPath(block: ConfigBlock, key: string, path: string, what: string): string {
  const value = readString(block, key, path) ?? "";
  if (value === "") {
    throw new ConfigError(`${path}.${key} is required: ${what}`);
  }
  return value;
}

function readText(file: string, what: string): string {
  try {
    return readFileSync(file, "utf8");
  } catch (error) {
    throw new Error(`failed to read the ${what} ${file}: ${(error as Error).message}`, { cause: error });
  }
}

/** Reads the CERTIFICATE blocks of certificate_path; other blocks are skipped, as Go's tls.LoadX509KeyPair does. */
function readCertificateFile(file: string): Buffer[] {
  const blocks = parsePemBlocksIn(readText(file, "certificate file"), file);
  const certificates = blocks.filter((block) => block.type === "CERTIFICATE").map((block) => block.der);
  if (certificates.length === 0) {
    throw new Error(`failed to load the key pair: no CERTIFICATE block in ${file}`);
  }
  for (const der of certificates) {
    try {
      new X509Certificate(der);
    } catch (error) {
      throw new Error(`failed to parse a certificate in ${file}: ${(error as Error).message}`, { cause: error });
    }
  }
  return certificates;
}

function readIntermediates(file: string): Buffer[] {
  try {
    const certificates = parsePemCertificates(readText(file, "intermediates file"));
    certificates.forEach((der) => new X509Certificate(der));
    return certificates;
  } catch (error) {
    throw new Error(`failed to load intermediate certificates from ${file}: ${(error as Error).message}`, { cause: error });
  }
}

function readPrivateKey(file: string): KeyObject {
  const blocks = parsePemBlocksIn(readText(file, "private key file"), file);
  const block = blocks.find((candidate) => candidate.type === "PRIVATE KEY" || candidate.type.endsWith(" PRIVATE KEY"));
  if (block === undefined) {
    throw new Error(`failed to load the key pair: no PRIVATE KEY block in ${file}`);
  }
  if (block.type === "ENCRYPTED PRIVATE KEY") {
    throw new Error(`failed to load the key pair: the private key in ${file} is encrypted, which x509pop does not support`);
  }
  try {
    return createPrivateKey({ key: derToPem(block.der, block.type), format: "pem" });
  } catch (error) {
    throw new Error(`failed to parse the private key in ${file}: ${(error as Error).message}`, { cause: error });
  }
}

function parsePemBlocksIn(text: string, file: string): ReturnType<typeof parsePemBlocks> {
  try {
    return parsePemBlocks(text);
  } catch (error) {
    throw new Error(`failed to read PEM from ${file}: ${(error as Error).message}`, { cause: error });
  }
}
