import type { KeyManager } from "../../../plugins/keymanager/key-manager.js";
import { AGENT_KEY_SLOTS } from "../../../plugins/keymanager/key-manager.js";
import type { Logger } from "../../common/log.js";
import type { AgentSvidState } from "../attestor/agent-svid.js";
import { checkAgentSvid } from "../attestor/agent-svid.js";
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
  const slot = current.key.id === AGENT_KEY_SLOTS[0] ? AGENT_KEY_SLOTS[1] : AGENT_KEY_SLOTS[0];
  logger.info({ spiffe_id: current.spiffeId, expires_at: new Date(current.notAfterMs).toISOString() }, "Renewing agent SVID");

  const key = await keyManager.generateKey(slot);
  const chain = await client.renewAgent(createCsr(key.privateKeyPkcs8));

  try {
    return checkAgentSvid(trustDomain, chain, key, bundle, current.reattestable);
  } catch (error) {
    throw new Error(`failed to renew agent: the server returned an unusable SVID: ${(error as Error).message}`, { cause: error });
  }
}
