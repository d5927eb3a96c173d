import { X509Certificate } from "node:crypto";

import type { ManagedKey } from "../../../plugins/keymanager/key-manager.js";
import { formatSpiffeId } from "../../spiffe/spiffe-id.js";
import { verifyX509SvidChain } from "../../spiffe/x509-svid.js";
import { certificateMatchesKey } from "../crypto/ec-key.js";

/** The agent's own identity: its SVID, the key for it, and its trust domain's roots. */
export interface AgentSvidState {
  /** DER chain, leaf first. */
  svidChain: Buffer[];
  key: ManagedKey;
  /** Own trust domain roots, DER. */
  bundle: Buffer[];
  spiffeId: string;
  notBeforeMs: number;
  notAfterMs: number;
  reattestable: boolean;
}

/**
 * Checks an agent SVID the server issued or that was stored: the chain verifies against
 * `bundle` at `now`, the SPIFFE ID is in `trustDomain`, and the leaf certifies `key`.
 * Returns the complete state. Throws an Error naming what failed.
 */
export function checkAgentSvid(
  trustDomain: string,
  svidChain: Buffer[],
  key: ManagedKey,
  bundle: Buffer[],
  reattestable: boolean,
  now: Date = new Date(),
): AgentSvidState {
  const spiffeId = verifyX509SvidChain(svidChain, bundle, now);
  if (spiffeId.trustDomain !== trustDomain) {
    throw new Error(`the agent SVID ${formatSpiffeId(spiffeId)} is not in the trust domain ${trustDomain}`);
  }

  const leaf = new X509Certificate(svidChain[0] as Buffer);
  if (!certificateMatchesKey(leaf, key.privateKeyPkcs8)) {
    throw new Error(`the agent SVID ${formatSpiffeId(spiffeId)} does not certify the agent key "${key.id}"`);
  }

  return {
    svidChain,
    key,
    bundle,
    spiffeId: formatSpiffeId(spiffeId),
    notBeforeMs: Date.parse(leaf.validFrom),
    notAfterMs: Date.parse(leaf.validTo),
    reattestable,
  };
}
