import { X509Certificate } from "node:crypto";

import type { KeyManager } from "../../../plugins/keymanager/key-manager.js";
import { agentStatePath, readAgentState } from "../storage/agent-state.js";
import { certificateMatchesKey } from "../crypto/ec-key.js";
import type { AgentSvidState } from "./agent-svid.js";
import { checkAgentSvid } from "./agent-svid.js";

/**
 * The agent SVID found in data_dir at start-up: none, a usable one, or one that cannot be
 * used, with the reason (for example "it expired at 2030-01-01T00:00:00.000Z").
 */
export type StoredAgentSvid = { kind: "none" } | { kind: "usable"; svid: AgentSvidState } | { kind: "unusable"; path: string; problem: string };

/**
 * Loads the agent SVID stored in data_dir and checks that it is unexpired, certifies a key
 * in `keyManager`, is in `trustDomain` and chains to the stored bundle. One second of slack,
 * as SPIRE allows, keeps an SVID that expires during start-up from being used. Throws what
 * readAgentState throws for a damaged or unreadable file.
 */
export async function loadStoredAgentSvid(dataDir: string, trustDomain: string, keyManager: KeyManager, nowMs: number = Date.now()): Promise<StoredAgentSvid> {
  const stored = readAgentState(dataDir);
  if (stored === undefined || stored.svidChain.length === 0 || stored.bundle.length === 0) {
    return { kind: "none" };
  }

  const path = agentStatePath(dataDir);
  const leaf = new X509Certificate(stored.svidChain[0] as Buffer);
  const now = new Date(nowMs + 1000);
  const notAfter = new Date(leaf.validTo);
  if (notAfter <= now) {
    return { kind: "unusable", path, problem: `it expired at ${notAfter.toISOString()}` };
  }

  const keys = await keyManager.getKeys();
  const key = keys.find((candidate) => certificateMatchesKey(leaf, candidate.privateKeyPkcs8));
  if (key === undefined) {
    return { kind: "unusable", path, problem: noKeyProblem(keyManager.name, keys.length) };
  }

  try {
    return { kind: "usable", svid: checkAgentSvid(trustDomain, stored.svidChain, key, stored.bundle, stored.reattestable, now) };
  } catch (error) {
    return { kind: "unusable", path, problem: (error as Error).message };
  }
}

function noKeyProblem(keyManagerName: string, keyCount: number): string {
  if (keyCount === 0) {
    return `no key in the ${keyManagerName} KeyManager certifies it (the KeyManager contains no keys)`;
  }
  const keys = keyCount === 1 ? "1 other key" : `${keyCount} other keys`;
  return `no key in the ${keyManagerName} KeyManager certifies it (the KeyManager contains ${keys})`;
}
