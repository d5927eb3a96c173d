import { readFileSync } from "node:fs";
import type { Logger } from "pino";
import type { KubeletEndpoint } from "./k8s-config.js";

/** The files the agent presents to, and verifies, the kubelet's secure port, as read from disk. */
export interface KubeletCredentials {
  /** PEM bundle of the CA that signs the kubelet's serving certificate; undefined when verification is skipped. */
  caPem?: string;
  /** PEM client certificate chain and its key, for client-certificate authentication. */
  certificatePem?: string;
  privateKeyPem?: string;
  /** Bearer token, trimmed of surrounding white space. */
  token?: string;
}

type SecureEndpoint = Extract<KubeletEndpoint, { kind: "secure" }>;

/**
 * Reads the CA bundle, client certificate and key, or token that `endpoint` names.
 * Throws an error naming the file that cannot be read or that is empty.
 */
export function loadKubeletCredentials(endpoint: SecureEndpoint): KubeletCredentials {
  const credentials: KubeletCredentials = {};

  if (!endpoint.skipVerification) {
    credentials.caPem = readCredentialFile(endpoint.caPath, "kubelet CA bundle");
    if (!credentials.caPem.includes("-----BEGIN CERTIFICATE-----")) {
      throw new Error(`invalid kubelet CA bundle ${endpoint.caPath}: no PEM certificate found`);
    }
  }

  const auth = endpoint.auth;
  if (auth.kind === "client-certificate") {
    credentials.certificatePem = readCredentialFile(auth.certificatePath, "kubelet client certificate");
    credentials.privateKeyPem = readCredentialFile(auth.privateKeyPath, "kubelet client private key");
  } else if (auth.kind === "token") {
    credentials.token = readCredentialFile(auth.tokenPath, "kubelet bearer token").trim();
  }

  return credentials;
}

function readCredentialFile(path: string, description: string): string {
  let text: string;
  try {
    text = readFileSync(path, "utf8");
  } catch (error) {
    throw new Error(`failed to read the ${description} from ${path}: ${(error as Error).message}`, { cause: error });
  }

  if (text.trim() === "") {
    throw new Error(`the ${description} file ${path} is empty`);
  }
  return text;
}

/**
 * Returns a function that gives the current kubelet credentials, reading the files again
 * once `reloadIntervalMs` has passed since the last read, because Kubernetes rotates
 * projected service account tokens and certificates in place.
 *
 * The first read happens here and throws, so a missing file stops the agent at start-up.
 * A later failed read is logged and the previous credentials stay in use.
 */
export function createCredentialsSource(
  endpoint: SecureEndpoint,
  reloadIntervalMs: number,
  logger: Logger,
  now: () => number = Date.now,
): () => KubeletCredentials {
  let current = loadKubeletCredentials(endpoint);
  let loadedAt = now();

  return () => {
    if (now() - loadedAt < reloadIntervalMs) {
      return current;
    }

    try {
      current = loadKubeletCredentials(endpoint);
    } catch (error) {
      logger.warn({ err: error }, "Failed to reload the kubelet credentials; keeping the previous ones");
    }
    // Retry only after another interval, so a broken file is not read on every request.
    loadedAt = now();
    return current;
  };
}
