import type { Logger } from "../../common/log.js";
import type { JwtAuthority } from "../../workload-api/jwt-source.js";

/**
 * The JWT authorities of the agent's own and federated trust domains, as of the last
 * sync. Maps are replaced, never mutated, so a snapshot handed out stays consistent.
 */
export interface JwtBundleStore {
  /** Replaces every trust domain's authorities; returns whether anything changed and notifies listeners if so. */
  update(next: ReadonlyMap<string, JwtAuthority[]>): boolean;
  /** Authorities keyed by bare trust domain name; do not mutate. */
  bundles(): ReadonlyMap<string, JwtAuthority[]>;
  /** Registers `listener` for changes; returns a function that removes it. */
  onUpdate(listener: () => void): () => void;
}

/** Creates an empty store; the first sync fills it. */
export function createJwtBundleStore(logger: Logger): JwtBundleStore {
  let current: ReadonlyMap<string, JwtAuthority[]> = new Map();
  const listeners = new Set<() => void>();

  return {
    update(next) {
      if (sameJwtBundles(current, next)) {
        return false;
      }

      for (const trustDomain of next.keys()) {
        if (!current.has(trustDomain)) {
          logger.debug({ trust_domain: trustDomain }, "JWT bundle added");
        }
      }
      for (const trustDomain of current.keys()) {
        if (!next.has(trustDomain)) {
          logger.debug({ trust_domain: trustDomain }, "JWT bundle removed");
        }
      }
      current = new Map(next);

      for (const listener of [...listeners]) {
        listener();
      }
      return true;
    },

    bundles() {
      return current;
    },

    onUpdate(listener) {
      listeners.add(listener);
      return () => {
        listeners.delete(listener);
      };
    },
  };
}

/** Tells whether two sets of JWT bundles hold the same keys, in the same order, for the same trust domains. */
export function sameJwtBundles(a: ReadonlyMap<string, JwtAuthority[]>, b: ReadonlyMap<string, JwtAuthority[]>): boolean {
  if (a.size !== b.size) {
    return false;
  }
  for (const [trustDomain, left] of a) {
    const right = b.get(trustDomain);
    if (right === undefined || left.length !== right.length) {
      return false;
    }
    const same = left.every((key, index) => {
      const other = right[index] as JwtAuthority;
      return key.keyId === other.keyId && key.expiresAt === other.expiresAt && key.publicKeyDer.equals(other.publicKeyDer);
    });
    if (!same) {
      return false;
    }
  }
  return true;
}
