import type { BigIntStats } from "node:fs";

/** Default number of executables whose digest is kept. */
export const DEFAULT_DIGEST_CACHE_ENTRIES = 256;

/** Counters of {@link ExecutableDigestCache} lookups, for tests and debugging. */
export interface DigestCacheCounters {
  /** Lookups served from a stored or in-progress digest. */
  hits: number;
  /** Lookups that started a new hash. */
  misses: number;
}

/**
 * SHA-256 digests of executables, keyed by the identity of the file (device, inode, size,
 * modification time and change time), so repeated attestations of processes that run the
 * same binary read it once.
 *
 * The change time is part of the key because the owner of a file can set its modification
 * time back after editing it, while the kernel alone sets the change time, to the current
 * time, on every write. A file changed in place therefore gets a new key.
 */
export interface ExecutableDigestCache {
  /**
   * Returns the stored digest for `identity`, or runs `compute` once and stores its result.
   * Concurrent lookups for the same file share one computation. A failed computation is
   * not stored, so the next lookup tries again.
   */
  digest(identity: BigIntStats, compute: () => Promise<string>): Promise<string>;
  readonly counters: Readonly<DigestCacheCounters>;
}

/**
 * Creates an {@link ExecutableDigestCache} holding at most `maxEntries` digests; the one
 * used least recently is dropped first.
 */
export function createExecutableDigestCache(maxEntries = DEFAULT_DIGEST_CACHE_ENTRIES): ExecutableDigestCache {
  const digests = new Map<string, Promise<string>>();
  const counters: DigestCacheCounters = { hits: 0, misses: 0 };

  return {
    counters,

    digest(identity, compute) {
      const key = fileKey(identity);
      const known = digests.get(key);
      if (known !== undefined) {
        counters.hits += 1;
        // Re-inserting moves the entry to the end of the Map's order, the most recent end.
        digests.delete(key);
        digests.set(key, known);
        return known;
      }

      counters.misses += 1;
      const computed = compute();
      digests.set(key, computed);
      computed.catch(() => {
        if (digests.get(key) === computed) {
          digests.delete(key);
        }
      });

      for (const oldest of digests.keys()) {
        if (digests.size <= maxEntries) {
          break;
        }
        digests.delete(oldest);
      }
      return computed;
    },
  };
}

function fileKey(identity: BigIntStats): string {
  return [identity.dev, identity.ino, identity.size, identity.mtimeNs, identity.ctimeNs].join(":");
}
