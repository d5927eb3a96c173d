import { readFileSync } from "node:fs";

import { checkKeys } from "../../../src/config/check-keys.js";
import { ConfigError } from "../../../src/config/config-error.js";
import type { ConfigBlock } from "../../../src/config/config-values.js";
import { readInteger, readString, readStringList } from "../../../src/config/config-values.js";
import { parsePemCertificates } from "../../../src/spiffe/bundle.js";
import type { AgentPathTemplate } from "./agent-path-template.js";
import { DEFAULT_AGENT_PATH_TEMPLATE, parseAgentPathTemplate } from "./agent-path-template.js";
import { parseX509popCertificate } from "./x509pop-certificate.js";

/** Settings of the server's `NodeAttestor "x509pop"` plugin, checked and loaded. */
export interface X509popServerConfig {
  /** Files the CA bundle was read from, for logs. */
  caBundlePaths: string[];
  /** Trusted root CAs for the agents' certificates, DER. */
  caBundle: Buffer[];
  agentPathTemplate: AgentPathTemplate;
  /** Most intermediates an agent may send after its leaf. */
  maxIntermediates: number;
  /** Largest RSA leaf key accepted, in bits. */
  maxRsaKeySize: number;
}

/** SPIRE's defaults for the resource limits (doc/plugin_server_nodeattestor_x509pop.md). */
const DEFAULT_MAX_INTERMEDIATES = 4;
const DEFAULT_MAX_RSA_KEY_SIZE = 8192;

const SUPPORTED_OPTIONS = ["agent_path_template", "ca_bundle_path", "ca_bundle_paths", "max_intermediates", "max_rsa_key_size", "mode"];

/** Options of SPIRE's x509pop server plugin that tessera-server does not implement, with the reason. */
const UNSUPPORTED_OPTIONS: Record<string, string> = {
  spiffe_prefix: 'it applies to mode = "spiffe" only',
  svid_prefix: 'it applies to mode = "spiffe" only',
  verify_client_ip: "checking the agent's address against the leaf's IP SANs is not implemented",
  group_template: "group selectors are not implemented",
  groups: "group selectors are not implemented",
};

/**
 * Reads `plugin_data` of `NodeAttestor "x509pop"` and loads the CA bundle. `path` names
 * the block in messages (`plugins.NodeAttestor.x509pop.plugin_data`). Throws
 * {@link ConfigError} for a missing or unreadable bundle, an unsupported option or template.
 */
export function parseX509popServerConfig(data: ConfigBlock, path: string): X509popServerConfig {
  for (const [key, reason] of Object.entries(UNSUPPORTED_OPTIONS)) {
    if (data[key] !== undefined) {
      throw new ConfigError(`option ${path}.${key} is not supported yet by tessera-server (${reason}); remove it from the configuration`);
    }
  }
  checkKeys(data, path, SUPPORTED_OPTIONS, Object.keys(UNSUPPORTED_OPTIONS));

  const mode = readString(data, "mode", path) ?? "external_pki";
  if (mode === "spiffe") {
    throw new ConfigError(`${path}.mode "spiffe" is not supported yet by tessera-server; use "external_pki" with ca_bundle_path`);
  }
  if (mode !== "external_pki") {
    throw new ConfigError(`${path}.mode must be "external_pki" or "spiffe", got ${JSON.stringify(mode)}`);
  }

  const caBundlePaths = readBundlePaths(data, path);
  return {
    caBundlePaths,
    caBundle: caBundlePaths.flatMap((file) => loadCaBundle(file, path)),
    agentPathTemplate: readTemplate(data, path),
    maxIntermediates: readLimit(data, "max_intermediates", path, DEFAULT_MAX_INTERMEDIATES, 0),
    maxRsaKeySize: readLimit(data, "max_rsa_key_size", path, DEFAULT_MAX_RSA_KEY_SIZE, 1024),
  };
}

function readBundlePaths(data: ConfigBlock, path: string): string[] {
  const single = readString(data, "ca_bundle_path", path) ?? "";
  const several = readStringList(data, "ca_bundle_paths", path) ?? [];
  if (single !== "" && several.length > 0) {
    throw new ConfigError(`only one of ${path}.ca_bundle_path and ${path}.ca_bundle_paths can be set`);
  }
  const paths = single !== "" ? [single] : several;
  if (paths.length === 0 || paths.some((file) => file === "")) {
    throw new ConfigError(`${path}.ca_bundle_path (or ca_bundle_paths) is required: the PEM file of the CAs that issue the agents' certificates`);
  }
  return paths;
}

function loadCaBundle(file: string, path: string): Buffer[] {
  let certificates: Buffer[];
  try {
    certificates = parsePemCertificates(readFileSync(file, "utf8"));
  } catch (error) {
    throw new ConfigError(`failed to load the x509pop CA bundle ${file} (${path}): ${(error as Error).message}`, { cause: error });
  }
  if (certificates.length === 0) {
    throw new ConfigError(`the x509pop CA bundle ${file} (${path}) contains no CERTIFICATE block`);
  }
  for (const [index, der] of certificates.entries()) {
    try {
      parseX509popCertificate(der, `CA bundle ${index}`);
    } catch (error) {
      throw new ConfigError(`failed to load the x509pop CA bundle ${file} (${path}): ${(error as Error).message}`, { cause: error });
    }
  }
  return certificates;
}

function readTemplate(data: ConfigBlock, path: string): AgentPathTemplate {
  const source = readString(data, "agent_path_template", path) ?? "";
  try {
    return parseAgentPathTemplate(source === "" ? DEFAULT_AGENT_PATH_TEMPLATE : source);
  } catch (error) {
    throw new ConfigError(`${path}.agent_path_template: ${(error as Error).message}`, { cause: error });
  }
}

function readLimit(data: ConfigBlock, key: string, path: string, fallback: number, minimum: number): number {
  const value = readInteger(data, key, path);
  if (value === undefined) {
    return fallback;
  }
  if (value < minimum) {
    throw new ConfigError(`${path}.${key} must be at least ${minimum}, got ${value}`);
  }
  return value;
}
