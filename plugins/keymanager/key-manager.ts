/** A private key held by a key manager, under the ID the agent chose for it. */
export interface ManagedKey {
  /** Key slot, e.g. `agent-svid-A`; the agent alternates between two slots on renewal. */
  id: string;
  /** EC P-256 private key as PKCS#8 DER. Never log it. */
  privateKeyPkcs8: Buffer;
}

/**
 * A KeyManager plugin: stores the agent's own private keys (not workload keys, which live
 * in memory only). The agent uses two slots so that the key of the current SVID survives
 * until the renewed SVID is in place.
 */
export interface KeyManager {
  /** Plugin name from the configuration (`memory` or `disk`). */
  readonly name: string;
  /** Generates a new EC P-256 key in slot `id`, replacing any key there, and returns it. */
  generateKey(id: string): Promise<ManagedKey>;
  /** Returns the key in slot `id`, or undefined when the slot is empty. */
  getKey(id: string): Promise<ManagedKey | undefined>;
  /** Returns every stored key, sorted by ID. */
  getKeys(): Promise<ManagedKey[]>;
}

/** The two key slots SPIRE agents use for their SVID key, in the order they are tried. */
export const AGENT_KEY_SLOTS = ["agent-svid-A", "agent-svid-B"] as const;
