import { createHash } from "node:crypto";

import type { Logger } from "../../common/log.js";
import type { ServerJwtSvid } from "../client/server-client.js";
import { shouldRotateX509 } from "../manager/rotation.js";

/** Default limit on cached JWT-SVIDs (`jwt_svid_cache_max_size`), as in SPIRE. */
export const DEFAULT_JWT_SVID_CACHE_MAX_SIZE = 1000;

/** Mints a JWT-SVID on the server; `cacheHit` is true when a still-valid cached token exists. */
export type JwtSvidMinter = (entryId: string, audience: string[], cacheHit: boolean) => Promise<ServerJwtSvid>;

/** One cached JWT-SVID with the key it is cached under, as the runtime cache file stores it. */
export interface CachedJwtSvid {
  /** SPIFFE ID the token was requested for, in URI form. */
  spiffeId: string;
  /** Audience the token was requested for, in the order of the first request. */
  audience: string[];
  svid: ServerJwtSvid;
}

/** Settings for {@link createJwtSvidCache}. */
export interface JwtSvidCacheOptions {
  mint: JwtSvidMinter;
  /**
   * Returns true while the server is known to be unreachable. A cached token that has not
   * expired is then returned without calling the server, so a workload does not wait for
   * a call that cannot succeed.
   */
  serverUnreachable?: () => boolean;
  /** Hard limit on cached tokens; the least recently used one is evicted to make room. */
  maxSize?: number;
  logger: Logger;
  /** Clock in milliseconds, for the half-life and expiry checks. */
  now?: () => number;
  /** Source of the half-life jitter, in [0, 1). */
  random?: () => number;
}

/**
 * The agent's JWT-SVID cache, keyed by SPIFFE ID and the sorted audience set. A cached
 * token is returned until its jittered half-life; after that a new one is minted. When
 * minting fails, or the server is known to be unreachable, a cached token that has not
 * expired is returned (with a warning when minting failed). An expired token is never
 * returned. Concurrent requests for the same key share one server call.
 */
export interface JwtSvidCache {
  /** Returns a token for `spiffeId` and `audience`, minted for `entryId` when needed. Throws when no valid token can be had. */
  fetch(entryId: string, spiffeId: string, audience: readonly string[]): Promise<ServerJwtSvid>;
  /**
   * Drops cached tokens whose `kid` header names one of `keyIds`, so the next request mints
   * a token signed with a trusted key. Returns how many were dropped.
   */
  removeSignedBy(keyIds: readonly string[]): number;
  size(): number;
  /** Returns the cached tokens, least recently used first. */
  snapshot(): CachedJwtSvid[];
  /**
   * Adds tokens from the runtime cache file (already checked) in the given order, skipping
   * expired ones; the size limit applies. Returns how many were added. Change listeners
   * are not called.
   */
  restore(items: readonly CachedJwtSvid[]): number;
  /** Registers `listener` for every token stored or removed; returns a function that removes it. */
  onChange(listener: () => void): () => void;
}

/**
 * Builds the cache key for a SPIFFE ID and audience set: SHA-256 over the SPIFFE ID and
 * each sorted audience, every part followed by a NUL byte. The terminator keeps
 * {"ab","cd"} and {"a","bcd"} apart, and sorting makes the key independent of the order
 * a workload lists its audiences in. SPIFFE IDs cannot contain NUL, so the parts cannot
 * run into each other.
 */
export function jwtSvidCacheKey(spiffeId: string, audience: readonly string[]): string {
  const hash = createHash("sha256");
  hash.update(spiffeId);
  hash.update("\0");
  for (const value of [...audience].sort()) {
    hash.update(value);
    hash.update("\0");
  }
  return hash.digest("base64");
}

/** Creates an empty cache. */
export function createJwtSvidCache(options: JwtSvidCacheOptions): JwtSvidCache {
  const logger = options.logger;
  const now = options.now ?? Date.now;
  const random = options.random ?? Math.random;
  const maxSize = options.maxSize ?? DEFAULT_JWT_SVID_CACHE_MAX_SIZE;

  // Map iteration follows insertion order, so re-inserting on every hit keeps the least
  // recently used token first.
  const tokens = new Map<string, CachedJwtSvid>();
  const inFlight = new Map<string, Promise<ServerJwtSvid>>();
  const changeListeners = new Set<() => void>();

  function notifyChange(): void {
    for (const listener of [...changeListeners]) {
      listener();
    }
  }

  function touch(key: string, cached: CachedJwtSvid): void {
    tokens.delete(key);
    tokens.set(key, cached);
  }

  function store(key: string, cached: CachedJwtSvid): void {
    tokens.delete(key);
    while (tokens.size >= maxSize) {
      const oldest = tokens.keys().next();
      if (oldest.done === true) {
        break;
      }
      tokens.delete(oldest.value);
    }
    tokens.set(key, cached);
  }

  function unexpired(cached: CachedJwtSvid | undefined): CachedJwtSvid | undefined {
    return cached !== undefined && now() < cached.svid.expiresAt * 1000 ? cached : undefined;
  }

  async function refresh(key: string, entryId: string, spiffeId: string, audience: string[]): Promise<ServerJwtSvid> {
    const cachedValid = unexpired(tokens.get(key)) !== undefined;

    let minted: ServerJwtSvid;
    try {
      minted = await options.mint(entryId, audience, cachedValid);
    } catch (error) {
      const current = unexpired(tokens.get(key));
      if (current !== undefined) {
        logger.warn({ spiffe_id: spiffeId, entry_id: entryId, error: (error as Error).message }, "Failed to renew JWT-SVID; returning the cached token");
        touch(key, current);
        return current.svid;
      }
      throw new Error(`failed to fetch JWT-SVID for ${spiffeId}: ${(error as Error).message}`, { cause: error });
    }

    if (minted.spiffeId !== "" && minted.spiffeId !== spiffeId) {
      throw new Error(`failed to fetch JWT-SVID for ${spiffeId}: the server returned a token for ${minted.spiffeId}`);
    }
    store(key, { spiffeId, audience, svid: minted });
    notifyChange();
    return minted;
  }

  return {
    fetch(entryId, spiffeId, audience) {
      const key = jwtSvidCacheKey(spiffeId, audience);

      const cached = tokens.get(key);
      if (cached !== undefined && !expiresSoon(cached.svid, now(), random)) {
        touch(key, cached);
        return Promise.resolve(cached.svid);
      }

      const stillValid = unexpired(cached);
      if (stillValid !== undefined && options.serverUnreachable?.() === true) {
        logger.debug({ spiffe_id: spiffeId, entry_id: entryId }, "Server unreachable; returning the cached JWT-SVID without renewing it");
        touch(key, stillValid);
        return Promise.resolve(stillValid.svid);
      }

      const running = inFlight.get(key);
      if (running !== undefined) {
        return running;
      }
      const request = refresh(key, entryId, spiffeId, [...audience]).finally(() => {
        inFlight.delete(key);
      });
      inFlight.set(key, request);
      return request;
    },

    removeSignedBy(keyIds) {
      if (keyIds.length === 0) {
        return 0;
      }

      const tainted = new Set(keyIds);
      let removed = 0;
      for (const [key, cached] of [...tokens]) {
        if (tainted.has(tokenKeyId(cached.svid.token) ?? "")) {
          tokens.delete(key);
          removed++;
        }
      }
      if (removed > 0) {
        notifyChange();
      }
      return removed;
    },

    size() {
      return tokens.size;
    },

    snapshot() {
      return [...tokens.values()];
    },

    restore(items) {
      let added = 0;
      for (const item of items) {
        if (unexpired(item) === undefined) {
          continue;
        }
        store(jwtSvidCacheKey(item.spiffeId, item.audience), { spiffeId: item.spiffeId, audience: [...item.audience], svid: item.svid });
        added++;
      }
      return added;
    },

    onChange(listener) {
      changeListeners.add(listener);
      return () => {
        changeListeners.delete(listener);
      };
    },
  };
}

/** Reads the `kid` from a compact JWS header; undefined when the header is unreadable or has none. */
function tokenKeyId(token: string): string | undefined {
  try {
    const header = JSON.parse(Buffer.from(token.split(".")[0] ?? "", "base64url").toString("utf8")) as { kid?: unknown };
    return typeof header.kid === "string" ? header.kid : undefined;
  } catch {
    return undefined;
  }
}

/** Tells whether a token has expired or reached its jittered half-life (45–55 % of its lifetime left). */
function expiresSoon(svid: ServerJwtSvid, nowMs: number, random: () => number): boolean {
  return shouldRotateX509({ notBeforeMs: svid.issuedAt * 1000, notAfterMs: svid.expiresAt * 1000 }, nowMs, random);
}
