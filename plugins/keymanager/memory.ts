import { generateEcP256Pkcs8 } from "../../src/agent/crypto/ec-key.js";
import type { KeyManager, ManagedKey } from "./key-manager.js";

/**
 * Creates the `memory` KeyManager: keys live in this process only, so a restarted agent
 * has to attest again. With join_token that needs a new token, because tokens are single use.
 */
export function createMemoryKeyManager(): KeyManager {
  const keys = new Map<string, ManagedKey>();

  return {
    name: "memory",

    async generateKey(id) {
      const key = { id, privateKeyPkcs8: generateEcP256Pkcs8() };
      keys.set(id, key);
      return key;
    },

    async getKey(id) {
      return keys.get(id);
    },

    async getKeys() {
      return [...keys.values()].sort((a, b) => a.id.localeCompare(b.id));
    },
  };
}
