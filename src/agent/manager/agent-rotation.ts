import type { KeyManager } from "../../../plugins/keymanager/key-manager.js";
import { AGENT_KEY_SLOTS } from "../../../plugins/keymanager/key-manager.js";
import type { Logger } from "../../common/log.js";
import type { NodeAttestor } from "../../../plugins/nodeattestor/node-attestor.js";
import type { AgentSvidState } from "../attestor/agent-svid.js";
import { checkAgentSvid } from "../attestor/agent-svid.js";
import { attestNode } from "../attestor/node-attestor.js";
import type { ServerEndpoint } from "../client/dial.js";
import type { ServerClient } from "../client/server-client.js";
import { createCsr } from "../crypto/csr.js";

/**
 * Renews the agent SVID with RenewAgent: a new EC P-256 key in the slot the current key
 * does not use, a CSR without SAN, and a check that the new SVID verifies against
 * `bundle`, stays in the trust domain and certifies the new key. Returns the new state;
 * the caller stores it and drops the client's channel so the next call presents it.
 * The old key stays in its slot, so a crash before the new SVID is stored leaves the
 * stored SVID usable.
 */
export async function renewAgentSvid(
  current: AgentSvidState,
  client: ServerClient,
  keyManager: KeyManager,
  trustDomain: string,
  bundle: Buffer[],
  logger: Logger,
): Promise<AgentSvidState> {
  const slot = otherKeySlot(current);
  logger.info({ spiffe_id: current.spiffeId, expires_at: new Date(current.notAfterMs).toISOString() }, "Renewing agent SVID");

  const key = await keyManager.generateKey(slot);
  const chain = await client.renewAgent(createCsr(key.privateKeyPkcs8));

  try {
    return checkAgentSvid(trustDomain, chain, key, bundle, current.reattestable);
  } catch (error) {
    throw new Error(`failed to renew agent: the server returned an unusable SVID: ${(error as Error).message}`, { cause: error });
  }
}

/** Attests a running agent again and returns its new identity; see {@link createReattestor}. */
export type Reattest = (current: AgentSvidState, bundle: Buffer[]) => Promise<AgentSvidState>;

/** Settings for {@link createReattestor}. */
export interface ReattestorOptions {
  endpoint: ServerEndpoint;
  keyManager: KeyManager;
  nodeAttestor: NodeAttestor;
  logger: Logger;
}

/**
 * Creates the function that attests a running agent again, as a reattestable agent does
 * instead of RenewAgent: AttestAgent with a new key in the slot the current key does not
 * use, checking the server against `bundle`, the agent's current trust bundle. The
 * caller stores the new state and drops the client's channel, as after a renewal. One
 * attempt only: the caller decides whether to retry.
 */
export function createReattestor(options: ReattestorOptions): Reattest {
  return (current, bundle) =>
    attestNode({
      endpoint: options.endpoint,
      bootstrapBundle: bundle,
      insecureBootstrap: false,
      keyManager: options.keyManager,
      nodeAttestor: options.nodeAttestor,
      keySlot: otherKeySlot(current),
      logger: options.logger,
    });
}

/** Returns the key slot the current agent key does not use, where the next key goes. */
function otherKeySlot(current: AgentSvidState): string {
  return current.key.id === AGENT_KEY_SLOTS[0] ? AGENT_KEY_SLOTS[1] : AGENT_KEY_SLOTS[0];
}
