import { status } from "@grpc/grpc-js";
import { KeyUsageFlags } from "@peculiar/asn1-x509";

import type { Selector } from "../../../src/spiffe/selector.js";
import { formatSpiffeId, spiffeIdFromPath } from "../../../src/spiffe/spiffe-id.js";
import type { ChallengeExchange, NodeAttestationResult, ServerNodeAttestor } from "../server-node-attestor.js";
import { NodeAttestationError } from "../server-node-attestor.js";
import { renderAgentPath } from "./agent-path-template.js";
import { parseX509popCertificate } from "./x509pop-certificate.js";
import type { X509popCertificate } from "./x509pop-certificate.js";
import { buildVerifiedChains } from "./x509pop-chain.js";
import {
  X509POP_PLUGIN_NAME,
  certificateFingerprint,
  createChallenge,
  decodeAttestationData,
  encodeChallenge,
  signatureKindOf,
  verifyChallengeResponse,
  X509popError,
} from "./x509pop-protocol.js";
import type { X509popSignatureKind } from "./x509pop-protocol.js";
import type { X509popServerConfig } from "./x509pop-server-config.js";

/**
 * Creates the server side of x509pop, as SPIRE's server plugin behaves in external_pki
 * mode: the agent's leaf certificate must chain to the configured CA bundle (through the
 * intermediates it sends) and allow digitalSignature, and the agent must sign a challenge
 * with the leaf's key. The agent ID comes from `agent_path_template` (by default
 * `/spire/agent/x509pop/<SHA-1 of the leaf DER>`). Nodes can attest again with the same
 * certificate, so they are reattestable.
 *
 * Selectors, all of type `x509pop`: `subject:cn:<common name>` (when the leaf has one),
 * `ca:fingerprint:<SHA-1>` for every certificate above the leaf on every verified chain,
 * `serialnumber:<leaf serial, lowercase hex>`, and `san:<key>:<value>` for each leaf URI SAN
 * of the form `x509pop://<trust domain>/<key>/<value>`.
 */
export function createX509popServerAttestor(
  config: X509popServerConfig,
  trustDomain: string,
  now: () => Date = () => new Date(),
): ServerNodeAttestor {
  const roots = config.caBundle.map((der, index) => parseX509popCertificate(der, `CA bundle ${index}`));

  return {
    name: X509POP_PLUGIN_NAME,

    async attest(payload: Buffer, exchange: ChallengeExchange): Promise<NodeAttestationResult> {
      const { leaf, intermediates } = readCertificates(payload, config);

      let chains: X509popCertificate[][];
      try {
        chains = buildVerifiedChains(leaf, intermediates, roots, now());
      } catch (error) {
        throw failure(status.PERMISSION_DENIED, "certificate verification failed", error);
      }

      const kind = challengeKind(leaf);
      const challenge = createChallenge(kind);
      const response = await exchange(encodeChallenge(challenge));
      try {
        verifyChallengeResponse(leaf.node.publicKey, challenge, response);
      } catch (error) {
        const malformed = (error as Error).message.startsWith("failed to unmarshal");
        throw malformed
          ? failure(status.INVALID_ARGUMENT, "failed to unmarshal challenge response", error)
          : failure(status.PERMISSION_DENIED, "challenge response verification failed", error);
      }

      const uriSanSelectors = readUriSanSelectors(leaf, trustDomain);
      return {
        agentId: makeAgentId(config, trustDomain, leaf, uriSanSelectors),
        selectors: buildSelectors(leaf, chains, uriSanSelectors),
        canReattest: true,
      };
    },
  };
}

function readCertificates(payload: Buffer, config: X509popServerConfig): { leaf: X509popCertificate; intermediates: X509popCertificate[] } {
  let certificates: Buffer[];
  try {
    certificates = decodeAttestationData(payload);
  } catch (error) {
    throw failure(status.INVALID_ARGUMENT, "failed to unmarshal data", error);
  }
  if (certificates.length === 0) {
    throw failure(status.INVALID_ARGUMENT, "no certificate to attest");
  }
  if (certificates.length - 1 > config.maxIntermediates) {
    throw failure(
      status.INVALID_ARGUMENT,
      `too many intermediate certificates: got ${certificates.length - 1}, max_intermediates is ${config.maxIntermediates}`,
    );
  }

  try {
    const leaf = parseX509popCertificate(certificates[0] as Buffer, "leaf");
    const intermediates = certificates.slice(1).map((der, index) => parseX509popCertificate(der, `intermediate ${index}`));
    checkRsaKeySize(leaf, config.maxRsaKeySize);
    return { leaf, intermediates };
  } catch (error) {
    throw failure(status.INVALID_ARGUMENT, "invalid certificate", error);
  }
}

function checkRsaKeySize(leaf: X509popCertificate, maxBits: number): void {
  const bits = leaf.node.publicKey.asymmetricKeyDetails?.modulusLength;
  if (leaf.node.publicKey.asymmetricKeyType === "rsa" && bits !== undefined && bits > maxBits) {
    throw new X509popError(`the leaf's RSA key has ${bits} bits, more than max_rsa_key_size (${maxBits})`);
  }
}

/** Checks that the leaf may sign (digitalSignature) and returns the challenge its key type needs. */
function challengeKind(leaf: X509popCertificate): X509popSignatureKind {
  if (((leaf.keyUsage ?? 0) & KeyUsageFlags.digitalSignature) === 0) {
    throw failure(status.PERMISSION_DENIED, "failed to generate challenge: certificate not intended for digital signature use (key usage lacks digitalSignature)");
  }
  try {
    return signatureKindOf(leaf.node.publicKey);
  } catch (error) {
    throw failure(status.INVALID_ARGUMENT, "failed to generate challenge", error);
  }
}

/**
 * Reads `x509pop://<trust domain>/<key>/<value>` URI SANs; the value may contain slashes.
 * URIs of that form without a value are skipped, as SPIRE skips them with a warning.
 */
function readUriSanSelectors(leaf: X509popCertificate, trustDomain: string): Map<string, string> {
  const prefix = `x509pop://${trustDomain}/`;
  const selectors = new Map<string, string>();

  for (const uri of leaf.uris) {
    if (!uri.startsWith(prefix)) continue;
    let path: string;
    try {
      path = decodeURIComponent(new URL(uri).pathname).replace(/^\/+|\/+$/g, "");
    } catch {
      continue;
    }
    const slash = path.indexOf("/");
    if (slash <= 0 || slash === path.length - 1) continue;
    selectors.set(path.slice(0, slash), path.slice(slash + 1));
  }
  return selectors;
}

function makeAgentId(config: X509popServerConfig, trustDomain: string, leaf: X509popCertificate, uriSanSelectors: Map<string, string>): string {
  try {
    const path = renderAgentPath(config.agentPathTemplate, {
      pluginName: X509POP_PLUGIN_NAME,
      fingerprint: certificateFingerprint(leaf.der),
      trustDomain,
      commonName: leaf.commonName,
      serialNumberHex: leaf.serialNumberHex,
      uriSanSelectors,
    });
    return formatSpiffeId(spiffeIdFromPath(trustDomain, `/spire/agent${path}`));
  } catch (error) {
    throw failure(status.INTERNAL, "failed to make agent ID", error);
  }
}

function buildSelectors(leaf: X509popCertificate, chains: X509popCertificate[][], uriSanSelectors: Map<string, string>): Selector[] {
  const values: string[] = [];
  if (leaf.commonName !== "") {
    values.push(`subject:cn:${leaf.commonName}`);
  }

  const fingerprints = new Set<string>();
  for (const chain of chains) {
    for (const certificate of chain.slice(1)) {
      fingerprints.add(certificateFingerprint(certificate.der));
    }
  }
  for (const fingerprint of fingerprints) {
    values.push(`ca:fingerprint:${fingerprint}`);
  }

  values.push(`serialnumber:${leaf.serialNumberHex}`);
  for (const [key, value] of uriSanSelectors) {
    values.push(`san:${key}:${value}`);
  }
  return values.map((value) => ({ type: X509POP_PLUGIN_NAME, value }));
}

function failure(code: status, what: string, cause?: unknown): NodeAttestationError {
  const detail = cause === undefined ? "" : `: ${(cause as Error).message}`;
  return new NodeAttestationError(`x509pop: ${what}${detail}`, code, cause === undefined ? undefined : { cause });
}
