import { Channel, status } from "@grpc/grpc-js";
import type { ServiceError } from "@grpc/grpc-js";

import type { KeyManager } from "../../../plugins/keymanager/key-manager.js";
import { AGENT_KEY_SLOTS } from "../../../plugins/keymanager/key-manager.js";
import type { NodeAttestor } from "../../../plugins/nodeattestor/node-attestor.js";
import type { Logger } from "../../common/log.js";
import { AgentClient, BundleClient } from "../../proto/index.js";
import type { agentv1, types } from "../../proto/index.js";
import { x509RootsFromProto } from "../client/bundle-convert.js";
import type { ServerEndpoint } from "../client/dial.js";
import { bootstrapCredentials, serverChannelOptions, serverTarget } from "../client/dial.js";
import { fetchServerCertificateInsecurely } from "../client/insecure-bootstrap.js";
import { cleanStatusDetails, ServerRpcError, toServerRpcError } from "../client/rpc-failure.js";
import { RPC_TIMEOUT_MS } from "../client/server-client.js";
import { readStream } from "../client/stream-reader.js";
import { serverCertificateFailure } from "../client/tls-failure.js";
import { createCsr } from "../crypto/csr.js";
import type { AgentSvidState } from "./agent-svid.js";
import { checkAgentSvid } from "./agent-svid.js";
import { explainCertificateFailure } from "./explain-certificate-failure.js";

/** Inputs of one node attestation. */
export interface AttestNodeOptions {
  endpoint: ServerEndpoint;
  /** Roots that authenticate the server (trust_bundle_path); ignored with `insecureBootstrap`. */
  bootstrapBundle: Buffer[];
  /** Path of the file `bootstrapBundle` was read from, named in the error when the server's certificate does not chain to it. */
  trustBundlePath?: string;
  insecureBootstrap: boolean;
  keyManager: KeyManager;
  nodeAttestor: NodeAttestor;
  /** KeyManager slot for the new agent key; the first slot when unset. Reattestation uses the slot the current key does not. */
  keySlot?: string;
  logger: Logger;
  signal?: AbortSignal;
}

/**
 * Attests the node to the server once and returns the new agent identity.
 *
 * The agent generates a new EC P-256 key in `keySlot` (the first slot by default) and
 * sends AttestAgent over TLS without a client certificate: attestation data plus a CSR
 * without SAN, because the server chooses the agent ID. The server must verify against
 * the bootstrap bundle (or, with insecure bootstrap, be the pinned certificate checked by
 * {@link fetchServerCertificateInsecurely}) and present `spiffe://<td>/spire/server`.
 * GetBundle on the same connection then gives the trust bundle the agent adopts, and the
 * new SVID must verify against it.
 *
 * Throws a ServerRpcError for a failed call (its `code` tells whether a retry can help),
 * or an Error for a missing join token or an SVID that does not check out. When the agent
 * rejects the server's certificate, the ServerRpcError (UNAVAILABLE) says why and what
 * to change, for example to fetch the current bundle into trust_bundle_path.
 */
export async function attestNode(options: AttestNodeOptions): Promise<AgentSvidState> {
  const { endpoint } = options;
  const data = await options.nodeAttestor.attestationData();

  const roots = options.insecureBootstrap ? [await fetchServerCertificateInsecurely(endpoint, options.signal)] : options.bootstrapBundle;
  const credentials = bootstrapCredentials(endpoint, roots, options.insecureBootstrap);
  const target = serverTarget(endpoint);
  const channel = new Channel(target, credentials, serverChannelOptions(endpoint));
  const agentClient = new AgentClient(target, credentials, { channelOverride: channel });
  const bundleClient = new BundleClient(target, credentials, { channelOverride: channel });

  try {
    const key = await options.keyManager.generateKey(options.keySlot ?? AGENT_KEY_SLOTS[0]);
    const csr = createCsr(key.privateKeyPkcs8);

    let result: agentv1.AttestAgentResponseResult__Output;
    try {
      result = await runAttestAgent(agentClient, options.nodeAttestor, data, csr, options.signal);
    } catch (error) {
      throw attestationError(error, options);
    }

    let bundle: types.Bundle__Output;
    try {
      bundle = await new Promise<types.Bundle__Output>((resolve, reject) => {
        bundleClient.GetBundle({}, { deadline: Date.now() + RPC_TIMEOUT_MS }, (error, response) =>
          error !== null || response === undefined ? reject(error ?? new Error("no response")) : resolve(response),
        );
      });
    } catch (error) {
      throw toServerRpcError("failed to fetch the bundle after attestation", error);
    }

    const { roots: trustBundle } = x509RootsFromProto(bundle);
    const chain = result.svid?.cert_chain ?? [];
    if (chain.length === 0) {
      throw new Error("failed to attest agent: the server returned an empty SVID chain");
    }
    try {
      return checkAgentSvid(endpoint.trustDomain, chain, key, trustBundle, result.reattestable);
    } catch (error) {
      throw new Error(`failed to attest agent: the server returned an unusable SVID: ${(error as Error).message}`, { cause: error });
    }
  } finally {
    channel.close();
  }
}

function attestationError(error: unknown, options: AttestNodeOptions): ServerRpcError {
  const failure = serverCertificateFailure(error);
  if (failure === undefined) {
    return toServerRpcError("failed to attest agent", error);
  }

  const details = cleanStatusDetails((error as ServiceError).details);
  return new ServerRpcError(`failed to attest agent: ${explainCertificateFailure(failure, options)}`, status.UNAVAILABLE, details, undefined, {
    cause: error,
  });
}

/** Runs the AttestAgent stream until the server sends a result, answering challenges on the way. */
async function runAttestAgent(
  client: AgentClient,
  nodeAttestor: NodeAttestor,
  data: { type: string; payload: Buffer },
  csr: Buffer,
  signal: AbortSignal | undefined,
): Promise<agentv1.AttestAgentResponseResult__Output> {
  const call = client.AttestAgent({ deadline: Date.now() + RPC_TIMEOUT_MS });
  const onAbort = (): void => call.cancel();
  signal?.addEventListener("abort", onAbort, { once: true });
  const reader = readStream(call, "AttestAgent");

  try {
    call.write({ params: { data: { type: data.type, payload: data.payload }, params: { csr } } });
    for (;;) {
      const response = await reader.receive();
      if (response.step === "result" && response.result !== null && response.result !== undefined) {
        call.end();
        return response.result;
      }
      if (response.step === "challenge") {
        call.write({ challenge_response: await nodeAttestor.respondToChallenge(response.challenge ?? Buffer.alloc(0)) });
        continue;
      }
      throw Object.assign(new Error("the server sent an AttestAgent response with neither a result nor a challenge"), {
        code: status.INTERNAL,
      } satisfies Partial<ServiceError>);
    }
  } catch (error) {
    call.cancel();
    throw error;
  } finally {
    signal?.removeEventListener("abort", onAbort);
  }
}
